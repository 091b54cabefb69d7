package ingest_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/ingest"
)

// The fuzz targets check the contract the rest of the server relies on:
// whatever arrives, decoding never panics, failures are *fault.Error, and
// an alert that decodes is safe to open an incident from. Their seeds run in
// every plain go test.

func FuzzDecodeAlertmanager(f *testing.F) {
	for _, seed := range []string{
		amFiring, amResolved, amGrafana, amNoFingerprint,
		``, `null`, `[]`, `{"alerts":[]}`, `{"alerts":[null]}`,
		`{"groupKey":"g","status":"firing","alerts":[{"labels":{"a":"b"},"annotations":{"summary":"\u0000\n"}}]}`,
		`{"receiver":"\u0000","groupLabels":{"\u0000":"x"},"alerts":[{"status":"RESOLVED","fingerprint":" \u0000"}]}`,
		`{"groupKey":"g","truncatedAlerts":-3,"alerts":[{"status":"firing","labels":{"severity":"P1","alertname":"` + strings.Repeat("a ", 600) + `"}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := ingest.DecodeAlertmanager(body)
		if err != nil {
			requireIngestError(t, err)
			return
		}
		if b.Truncated < 0 {
			t.Fatalf("Truncated %d < 0", b.Truncated)
		}
		for _, a := range b.Alerts {
			checkAlert(t, a, incident.SourceAlertmanager)
			if a.Action == incident.AlertAcknowledge {
				t.Fatalf("Alertmanager has no acknowledge")
			}
			if a.Title == "" {
				t.Fatalf("empty title on %s", a.Action)
			}
			if a.Fingerprint == "" || utf8.RuneCountInString(a.Fingerprint) > incident.MaxDedupKeyLen {
				t.Fatalf("Fingerprint %q", a.Fingerprint)
			}
			if a.DedupKey != b.Alerts[0].DedupKey {
				t.Fatalf("alerts of one group on different keys: %q, %q", a.DedupKey, b.Alerts[0].DedupKey)
			}
		}
	})
}

func FuzzDecodeEventsV2(f *testing.F) {
	for _, seed := range []string{
		pdTriggerDocs, pdTriggerAPIRef, pdAcknowledgeDocs, pdResolveDocs, pdTriggerNoDedupKey,
		``, `{}`, `null`, `[]`,
		`{"routing_key":"rk","event_action":"trigger","payload":{"summary":"\u0001\u0000","source":"h","severity":"info"}}`,
		`{"routing_key":"rk","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","timestamp":"2015-07-17T08:42:58.315+0000","custom_details":[{"\u0000":"\u0000"}]}}`,
		`{"routing_key":"rk","event_action":"resolve","dedup_key":"d","links":[{"href":1}]}`,
		pdTrigger(`"summary":"` + strings.Repeat("\u00e9 ", 511) + `"`),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, problems, err := ingest.DecodeEventsV2(body)
		if err != nil {
			requireIngestError(t, err)
			if problems != nil {
				t.Fatalf("problems %q with error %v", problems, err)
			}
			return
		}
		if len(problems) > 0 {
			for _, p := range problems {
				if p == "" {
					t.Fatalf("empty problem in %q", problems)
				}
			}
			if ev.RoutingKey != "" || ev.Source != "" {
				t.Fatalf("event %+v returned with problems %q", ev, problems)
			}
			return
		}
		checkAlert(t, ev.Alert, incident.SourceEventsV2)
		if ev.RoutingKey == "" || strings.ContainsRune(ev.RoutingKey, 0) {
			t.Fatalf("RoutingKey %q", ev.RoutingKey)
		}
		if ev.Fingerprint != ev.DedupKey {
			t.Fatalf("Fingerprint %q != DedupKey %q", ev.Fingerprint, ev.DedupKey)
		}
		if ev.Action == incident.AlertTrigger && ev.Title == "" {
			t.Fatalf("trigger without a title")
		}
	})
}

func FuzzDecodeGeneric(f *testing.F) {
	for _, seed := range []string{
		genericTrigger, genericResolve,
		``, `null`, `{}`, `[]`, `{"summary":"s"}`,
		`{"summary":"s","details":"d\u0000"}`,
		`{"summary":"s","details":{"\u0000":{"\u0000":["\u0000"]}},"dedup_key":"\u0000 k"}`,
		`{"summary":"` + strings.Repeat("x", 2*incident.MaxTitleLen) + `","action":"TRIGGER","severity":" p2 "}`,
		`{"summary":"s","unknown":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := ingest.DecodeGeneric(body)
		if err != nil {
			requireIngestError(t, err)
			return
		}
		checkAlert(t, a, incident.SourceGeneric)
		if a.Action == incident.AlertAcknowledge {
			t.Fatalf("the generic format has no acknowledge")
		}
		if a.Action == incident.AlertTrigger && a.Title == "" {
			t.Fatalf("trigger without a title")
		}
		if a.Fingerprint != a.DedupKey {
			t.Fatalf("Fingerprint %q != DedupKey %q", a.Fingerprint, a.DedupKey)
		}
	})
}

func requireIngestError(t *testing.T, err error) {
	t.Helper()
	var ie *fault.Error
	if !errors.As(err, &ie) {
		t.Fatalf("error %T %v is not an *fault.Error", err, err)
	}
	if ie.Message == "" {
		t.Fatalf("error without a message: %+v", ie)
	}
}

// checkAlert asserts what every decoded alert promises.
func checkAlert(t *testing.T, a incident.Alert, source incident.AlertSource) {
	t.Helper()
	if a.Source != source {
		t.Fatalf("Source %q, want %q", a.Source, source)
	}
	if !a.Action.Valid() {
		t.Fatalf("invalid Action %q", a.Action)
	}
	if !a.Severity.Valid() {
		t.Fatalf("invalid Severity %q", a.Severity)
	}
	// Only an Events API v2 trigger may leave the key to the caller.
	if a.DedupKey == "" && (source != incident.SourceEventsV2 || a.Action != incident.AlertTrigger) {
		t.Fatalf("empty DedupKey on %s %s", source, a.Action)
	}
	if n := utf8.RuneCountInString(a.DedupKey); n > incident.MaxDedupKeyLen {
		t.Fatalf("DedupKey of %d characters", n)
	}
	if a.DedupKey != strings.TrimSpace(a.DedupKey) {
		t.Fatalf("DedupKey %q has surrounding space", a.DedupKey)
	}
	if n := utf8.RuneCountInString(a.Title); n > incident.MaxTitleLen {
		t.Fatalf("Title of %d characters", n)
	}
	if a.Title != strings.TrimSpace(a.Title) || strings.ContainsAny(a.Title, "\n\r\t") {
		t.Fatalf("Title %q is not one trimmed line", a.Title)
	}
	if n := utf8.RuneCountInString(a.Description); n > incident.MaxDescriptionLen {
		t.Fatalf("Description of %d characters", n)
	}
	// What reaches Postgres text and jsonb columns must not hold NUL.
	for _, s := range []string{a.DedupKey, a.Fingerprint, a.Title, a.Description, a.URL} {
		if strings.ContainsRune(s, 0) {
			t.Fatalf("NUL in %q", s)
		}
	}
	for k, v := range a.Labels {
		if strings.ContainsRune(k, 0) || strings.ContainsRune(v, 0) {
			t.Fatalf("NUL in label %q=%q", k, v)
		}
	}
	checkNoNUL(t, a.Details)
	// The incident layer must accept what we hand it.
	n := incident.NewIncident{Title: a.Title, Service: "svc", Severity: a.Severity, Description: a.Description, DedupKey: a.DedupKey}
	n.Normalize()
	if a.Action == incident.AlertTrigger {
		if err := n.Validate(); err != nil {
			t.Fatalf("incident rejects the alert: %v", err)
		}
	}
}

func checkNoNUL(t *testing.T, v any) {
	t.Helper()
	switch v := v.(type) {
	case string:
		if strings.ContainsRune(v, 0) {
			t.Fatalf("NUL in detail %q", v)
		}
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) {
				t.Fatalf("NUL in detail key %q", k)
			}
			checkNoNUL(t, e)
		}
	case []any:
		for _, e := range v {
			checkNoNUL(t, e)
		}
	}
}
