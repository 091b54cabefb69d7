package ingest_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/ingest"
)

const instanceDownKey = `{}/{severity="critical"}:{alertname="InstanceDown"}`

func TestDecodeAlertmanagerFiringGroup(t *testing.T) {
	t.Parallel()
	b, err := ingest.DecodeAlertmanager([]byte(amFiring))
	require.NoError(t, err)

	require.Equal(t, instanceDownKey, b.GroupKey)
	require.Equal(t, "firing", b.Status)
	require.Equal(t, "http://alertmanager.example.org:9093", b.ExternalURL)
	require.Zero(t, b.Truncated)
	require.Len(t, b.Alerts, 2)

	require.Equal(t, incident.Alert{
		Source:      incident.SourceAlertmanager,
		Action:      incident.AlertTrigger,
		DedupKey:    instanceDownKey,
		Fingerprint: "3b3b4d6c1f0a2e11",
		Title:       "Instance node-1.example.org:9100 down",
		Description: "node-1.example.org:9100 of job node has been down for more than 5 minutes.",
		Severity:    incident.SeverityCritical,
		StartsAt:    time.Date(2024, 5, 2, 10, 15, 30, 123456789, time.UTC),
		Labels: map[string]string{
			"alertname": "InstanceDown", "instance": "node-1.example.org:9100", "job": "node", "severity": "critical",
		},
		Details: map[string]any{
			"description": "node-1.example.org:9100 of job node has been down for more than 5 minutes.",
			"summary":     "Instance node-1.example.org:9100 down",
			"runbook_url": "https://runbooks.example.org/InstanceDown",
		},
		URL: "http://prometheus.example.org:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
	}, b.Alerts[0])

	second := b.Alerts[1]
	require.Equal(t, instanceDownKey, second.DedupKey, "one group is one incident")
	require.Equal(t, "9e2a7c11d04b5f38", second.Fingerprint, "alerts within the group stay apart")
	require.Equal(t, "Instance node-2.example.org:9100 down", second.Title)
	require.Equal(t, time.Date(2024, 5, 2, 10, 16, 0, 0, time.UTC), second.StartsAt, "times are normalized to UTC")
	require.True(t, second.EndsAt.IsZero(), "Alertmanager's 0001-01-01 means no end")
}

func TestDecodeAlertmanagerResolvedGroup(t *testing.T) {
	t.Parallel()
	b, err := ingest.DecodeAlertmanager([]byte(amResolved))
	require.NoError(t, err)
	require.Equal(t, "resolved", b.Status)
	require.Len(t, b.Alerts, 2)
	for _, a := range b.Alerts {
		require.Equal(t, incident.AlertResolve, a.Action)
		require.Equal(t, instanceDownKey, a.DedupKey, "resolves the incident the firing group opened")
	}
	require.Equal(t, "3b3b4d6c1f0a2e11", b.Alerts[0].Fingerprint)
	require.Equal(t, time.Date(2024, 5, 2, 10, 42, 0, 0, time.UTC), b.Alerts[0].EndsAt)
}

func TestDecodeAlertmanagerGrafana(t *testing.T) {
	t.Parallel()
	b, err := ingest.DecodeAlertmanager([]byte(amGrafana))
	require.NoError(t, err, "Grafana's extra fields and version 1 are accepted")
	require.Equal(t, "{}:{}", b.GroupKey)
	require.Equal(t, "https://play.grafana.org/", b.ExternalURL)
	require.Len(t, b.Alerts, 2)

	mem := b.Alerts[0]
	require.Equal(t, incident.AlertTrigger, mem.Action)
	require.Equal(t, "{}:{}", mem.DedupKey)
	require.Equal(t, "c6eadffa33fcdf37", mem.Fingerprint)
	require.Equal(t, "This alert was triggered for zone us-1", mem.Title)
	require.Equal(t, "The system has high memory usage", mem.Description)
	require.Equal(t, incident.SeverityMedium, mem.Severity)
	require.Equal(t, "https://play.grafana.org/alerting/1afz29v7z/edit", mem.URL)
	require.Equal(t, time.Date(2021, 10, 12, 7, 51, 3, 157076000, time.UTC), mem.StartsAt)

	cpu := b.Alerts[1]
	require.Equal(t, incident.AlertResolve, cpu.Action, "an alert's own status wins over the group's")
	require.Equal(t, "High CPU usage", cpu.Title, "no summary: the alert name")
	require.Equal(t, ingest.DefaultSeverity, cpu.Severity, "no severity label")
	require.Equal(t, time.Date(2021, 10, 12, 8, 6, 3, 157076000, time.UTC), cpu.EndsAt)
}

func TestDecodeAlertmanagerWithoutFingerprint(t *testing.T) {
	t.Parallel()
	b, err := ingest.DecodeAlertmanager([]byte(amNoFingerprint))
	require.NoError(t, err)
	require.Zero(t, b.Truncated)
	a := b.Alerts[0]
	require.Equal(t, "Test on localhost:9090", a.Title)
	require.Equal(t, "some message", a.Description, "the message annotation stands in for description")
	require.Len(t, a.Fingerprint, 64, "a sha256 of the labels")

	// The same labels in another order give the same fingerprint; other
	// labels give another.
	reordered := strings.Replace(amNoFingerprint,
		`{"alertname": "Test", "dc": "eu-west-1", "instance": "localhost:9090", "job": "prometheus24"}`,
		`{"job": "prometheus24", "instance": "localhost:9090", "dc": "eu-west-1", "alertname": "Test"}`, 1)
	require.NotEqual(t, amNoFingerprint, reordered)
	b2, err := ingest.DecodeAlertmanager([]byte(reordered))
	require.NoError(t, err)
	require.Equal(t, a.Fingerprint, b2.Alerts[0].Fingerprint)

	other := strings.Replace(amNoFingerprint, `"dc": "eu-west-1", "instance"`, `"dc": "eu-west-2", "instance"`, 1)
	b3, err := ingest.DecodeAlertmanager([]byte(other))
	require.NoError(t, err)
	require.NotEqual(t, a.Fingerprint, b3.Alerts[0].Fingerprint)
}

// amOne wraps one alert object in an otherwise fixed notification.
func amOne(alert string) []byte {
	return []byte(`{"version":"4","groupKey":"{}:{alertname=\"X\"}","status":"firing","receiver":"r","alerts":[` + alert + `]}`)
}

func TestDecodeAlertmanagerTitle(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", incident.MaxTitleLen+10)
	cases := []struct {
		name, alert, title, description string
	}{
		{"summary", `{"labels":{"alertname":"A"},"annotations":{"summary":"S","title":"T"}}`, "S", ""},
		{"title annotation", `{"labels":{"alertname":"A"},"annotations":{"title":"T"}}`, "T", ""},
		{"blank summary falls through", `{"labels":{"alertname":"A"},"annotations":{"summary":"  \n "}}`, "A", ""},
		{"alertname and instance", `{"labels":{"alertname":"A","instance":"h:1"}}`, "A on h:1", ""},
		{"alertname alone", `{"labels":{"alertname":"A"}}`, "A", ""},
		{"instance alone is not a title", `{"labels":{"instance":"h:1"}}`, "Alertmanager alert", ""},
		{"nothing", `{"fingerprint":"f"}`, "Alertmanager alert", ""},
		{"multi-line summary", `{"labels":{"a":"b"},"annotations":{"summary":"  disk\n\tfull\u0000 on  h1 "}}`, "disk full on h1", ""},
		{"description before message", `{"labels":{"a":"b"},"annotations":{"description":"D","message":"M"}}`, "Alertmanager alert", "D"},
		{"blank description", `{"labels":{"a":"b"},"annotations":{"description":" ","message":"M"}}`, "Alertmanager alert", "M"},
		{"description keeps lines", `{"labels":{"a":"b"},"annotations":{"description":"  line 1\nline 2\n"}}`, "Alertmanager alert", "line 1\nline 2"},
		{
			"long summary is cut, kept whole in description",
			`{"labels":{"a":"b"},"annotations":{"summary":"` + long + `"}}`,
			strings.Repeat("é", incident.MaxTitleLen-1) + "…", long,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, err := ingest.DecodeAlertmanager(amOne(c.alert))
			require.NoError(t, err)
			require.Equal(t, c.title, b.Alerts[0].Title)
			require.Equal(t, c.description, b.Alerts[0].Description)
		})
	}
}

func TestDecodeAlertmanagerLongDescription(t *testing.T) {
	t.Parallel()
	b, err := ingest.DecodeAlertmanager(amOne(`{"labels":{"a":"b"},"annotations":{"description":"` +
		strings.Repeat("x", incident.MaxDescriptionLen+1) + `"}}`))
	require.NoError(t, err)
	d := b.Alerts[0].Description
	require.Equal(t, incident.MaxDescriptionLen, utf8.RuneCountInString(d))
	require.True(t, strings.HasSuffix(d, "…"))
}

func TestDecodeAlertmanagerSeverity(t *testing.T) {
	t.Parallel()
	cases := map[string]incident.Severity{
		"critical": incident.SeverityCritical,
		"P1":       incident.SeverityCritical,
		"page":     incident.SeverityCritical,
		"error":    incident.SeverityHigh,
		"Warning":  incident.SeverityMedium,
		"minor":    incident.SeverityMedium,
		"low":      incident.SeverityLow,
		"info":     incident.SeverityInfo,
		"none":     incident.SeverityInfo,
		"":         ingest.DefaultSeverity,
		"bogus":    ingest.DefaultSeverity,
	}
	for label, want := range cases {
		t.Run(label, func(t *testing.T) {
			t.Parallel()
			b, err := ingest.DecodeAlertmanager(amOne(`{"labels":{"alertname":"A","severity":"` + label + `"}}`))
			require.NoError(t, err)
			require.Equal(t, want, b.Alerts[0].Severity)
		})
	}
}

func TestDecodeAlertmanagerDedupKey(t *testing.T) {
	t.Parallel()

	t.Run("long group key is hashed", func(t *testing.T) {
		t.Parallel()
		key := `{}:{alertname="` + strings.Repeat("x", 300) + `"}`
		body := `{"groupKey":` + quote(key) + `,"status":"firing","alerts":[{"labels":{"a":"b"}}]}`
		b, err := ingest.DecodeAlertmanager([]byte(body))
		require.NoError(t, err)
		require.Equal(t, key, b.GroupKey)
		sum := sha256.Sum256([]byte(key))
		require.Equal(t, hex.EncodeToString(sum[:]), b.Alerts[0].DedupKey)
	})

	t.Run("group key at the limit is kept", func(t *testing.T) {
		t.Parallel()
		key := strings.Repeat("k", incident.MaxDedupKeyLen)
		b, err := ingest.DecodeAlertmanager([]byte(`{"groupKey":"` + key + `","status":"firing","alerts":[{"labels":{"a":"b"}}]}`))
		require.NoError(t, err)
		require.Equal(t, key, b.Alerts[0].DedupKey)
	})

	t.Run("missing group key is built from receiver and group labels", func(t *testing.T) {
		t.Parallel()
		body := `{"receiver":"r","groupLabels":{"job":"node","alertname":"A"},"status":"firing","alerts":[{"labels":{"a":"b"}}]}`
		b, err := ingest.DecodeAlertmanager([]byte(body))
		require.NoError(t, err)
		require.Empty(t, b.GroupKey)
		require.Equal(t, `r:{alertname="A", job="node"}`, b.Alerts[0].DedupKey)
	})
}

func TestDecodeAlertmanagerLenient(t *testing.T) {
	t.Parallel()

	t.Run("unparsable times are left zero", func(t *testing.T) {
		t.Parallel()
		b, err := ingest.DecodeAlertmanager(amOne(`{"labels":{"a":"b"},"startsAt":"yesterday","endsAt":"soon"}`))
		require.NoError(t, err)
		require.True(t, b.Alerts[0].StartsAt.IsZero())
		require.True(t, b.Alerts[0].EndsAt.IsZero())
	})

	t.Run("alert without status takes the group's", func(t *testing.T) {
		t.Parallel()
		b, err := ingest.DecodeAlertmanager([]byte(`{"status":"resolved","groupKey":"g","alerts":[{"labels":{"a":"b"}}]}`))
		require.NoError(t, err)
		require.Equal(t, incident.AlertResolve, b.Alerts[0].Action)
	})

	t.Run("empty alerts array", func(t *testing.T) {
		t.Parallel()
		b, err := ingest.DecodeAlertmanager([]byte(`{"groupKey":"g","status":"firing","alerts":[]}`))
		require.NoError(t, err)
		require.Empty(t, b.Alerts)
	})

	t.Run("truncated alerts are counted", func(t *testing.T) {
		t.Parallel()
		b, err := ingest.DecodeAlertmanager([]byte(`{"groupKey":"g","status":"firing","truncatedAlerts":7,"alerts":[{"fingerprint":"f"}]}`))
		require.NoError(t, err)
		require.Equal(t, 7, b.Truncated)
	})

	t.Run("NUL is removed from what is stored", func(t *testing.T) {
		t.Parallel()
		b, err := ingest.DecodeAlertmanager([]byte(`{"groupKey":"g\u0000k","status":"firing","alerts":[` +
			`{"labels":{"a\u0000":"b\u0000","a":"c"},"annotations":{"note":"x\u0000y"},"fingerprint":"f\u0000"}]}`))
		require.NoError(t, err)
		a := b.Alerts[0]
		require.Equal(t, "gk", a.DedupKey)
		require.Equal(t, "f", a.Fingerprint)
		require.Equal(t, map[string]string{"a": "c"}, a.Labels, "a key that was clean wins over one that became equal")
		require.Equal(t, map[string]any{"note": "xy"}, a.Details)
	})
}

func TestDecodeAlertmanagerErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, field string
	}{
		{"empty body", ``, "body"},
		{"not JSON", `<html>`, "body"},
		{"trailing garbage", `{"alerts":[]} x`, "body"},
		{"array", `[]`, "body"},
		{"string", `"alerts"`, "body"},
		{"null", `null`, "alerts"},
		{"no alerts", `{"version":"4","groupKey":"g","status":"firing"}`, "alerts"},
		{"alerts null", `{"groupKey":"g","alerts":null}`, "alerts"},
		{"alerts not an array", `{"groupKey":"g","alerts":{}}`, "alerts"},
		{"alert neither labels nor fingerprint", `{"groupKey":"g","status":"firing","alerts":[{"labels":{"a":"b"}},{"annotations":{"summary":"s"}}]}`, "alerts[1]"},
		{"alert null", `{"groupKey":"g","status":"firing","alerts":[null]}`, "alerts[0]"},
		{"blank fingerprint and empty labels", `{"groupKey":"g","status":"firing","alerts":[{"labels":{},"fingerprint":"  "}]}`, "alerts[0]"},
		{"unknown status", `{"groupKey":"g","alerts":[{"status":"pending","labels":{"a":"b"}}]}`, "alerts[0].status"},
		{"no status at all", `{"groupKey":"g","alerts":[{"labels":{"a":"b"}}]}`, "alerts[0].status"},
		{"label not a string", `{"groupKey":"g","alerts":[{"labels":{"a":1}}]}`, "alerts.labels"},
		{"truncatedAlerts not an integer", `{"groupKey":"g","truncatedAlerts":"3","alerts":[]}`, "truncatedAlerts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, err := ingest.DecodeAlertmanager([]byte(c.body))
			var ie *fault.Error
			require.True(t, errors.As(err, &ie), "got %v", err)
			require.Equal(t, c.field, ie.Field)
			require.NotEmpty(t, ie.Message)
			require.Zero(t, b)
		})
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	require.Equal(t, "alerts: is required", fault.InvalidField("alerts", "is required").Error())
	require.Equal(t, "bad", fault.New(fault.Invalid, "bad").Error())

	_, err := ingest.DecodeAlertmanager([]byte(`{"alerts":[{"labels":{"a":1}}]}`))
	require.EqualError(t, err, "alerts.labels: expected a string, got number")
	_, err = ingest.DecodeAlertmanager([]byte(`{"alerts":`))
	require.EqualError(t, err, "body: is not valid JSON: unexpected end of JSON input")
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
