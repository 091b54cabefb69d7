package ingest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/ingest"
)

func TestDecodeGenericTrigger(t *testing.T) {
	t.Parallel()
	a, err := ingest.DecodeGeneric([]byte(genericTrigger))
	require.NoError(t, err)
	require.Equal(t, incident.Alert{
		Source:      incident.SourceGeneric,
		Action:      incident.AlertTrigger,
		DedupKey:    "export/nightly",
		Fingerprint: "export/nightly",
		Title:       "Nightly export failed",
		Severity:    incident.SeverityMedium,
		Details:     map[string]any{"job": "export", "exit_code": 2.0, "log": []any{"line 1", "line 2"}},
	}, a)
}

func TestDecodeGenericResolve(t *testing.T) {
	t.Parallel()
	a, err := ingest.DecodeGeneric([]byte(genericResolve))
	require.NoError(t, err)
	require.Equal(t, incident.Alert{
		Source:      incident.SourceGeneric,
		Action:      incident.AlertResolve,
		DedupKey:    "export/nightly",
		Fingerprint: "export/nightly",
		Severity:    ingest.DefaultSeverity,
	}, a)
}

func TestDecodeGenericFields(t *testing.T) {
	t.Parallel()

	t.Run("string details become the description", func(t *testing.T) {
		t.Parallel()
		a, err := ingest.DecodeGeneric([]byte(`{"summary":"s","details":"  exit 2\nsee log\n"}`))
		require.NoError(t, err)
		require.Equal(t, "exit 2\nsee log", a.Description)
		require.Nil(t, a.Details)
	})

	t.Run("null fields are absent", func(t *testing.T) {
		t.Parallel()
		a, err := ingest.DecodeGeneric([]byte(`{"summary":"s","details":null,"dedup_key":null,"action":null,"severity":null}`))
		require.NoError(t, err)
		require.Equal(t, incident.AlertTrigger, a.Action)
		require.Equal(t, ingest.DefaultSeverity, a.Severity)
		require.Nil(t, a.Details)
	})

	t.Run("severity names", func(t *testing.T) {
		t.Parallel()
		for name, want := range map[string]incident.Severity{
			"critical": incident.SeverityCritical, "high": incident.SeverityHigh, "error": incident.SeverityHigh,
			"medium": incident.SeverityMedium, "warning": incident.SeverityMedium, "low": incident.SeverityLow,
			"info": incident.SeverityInfo, " LOW ": incident.SeverityLow,
		} {
			a, err := ingest.DecodeGeneric([]byte(`{"summary":"s","severity":"` + name + `"}`))
			require.NoError(t, err, name)
			require.Equal(t, want, a.Severity, name)
		}
	})

	t.Run("action ignores case", func(t *testing.T) {
		t.Parallel()
		a, err := ingest.DecodeGeneric([]byte(`{"dedup_key":"k","action":" Resolve "}`))
		require.NoError(t, err)
		require.Equal(t, incident.AlertResolve, a.Action)
	})

	t.Run("a trigger without dedup key repeats onto one incident", func(t *testing.T) {
		t.Parallel()
		a, err := ingest.DecodeGeneric([]byte(`{"summary":"Disk full on db-1"}`))
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(a.DedupKey, "generic:"))
		require.Equal(t, a.DedupKey, a.Fingerprint)

		again, err := ingest.DecodeGeneric([]byte(`{"summary":"  Disk full\non db-1 ","details":{"x":1}}`))
		require.NoError(t, err)
		require.Equal(t, a.DedupKey, again.DedupKey, "white space does not make a new alert")

		other, err := ingest.DecodeGeneric([]byte(`{"summary":"Disk full on db-2"}`))
		require.NoError(t, err)
		require.NotEqual(t, a.DedupKey, other.DedupKey)
	})

	t.Run("long summary", func(t *testing.T) {
		t.Parallel()
		long := strings.Repeat("a", incident.MaxTitleLen) + "b"
		a, err := ingest.DecodeGeneric([]byte(`{"summary":"` + long + `","details":"d"}`))
		require.NoError(t, err)
		require.Equal(t, strings.Repeat("a", incident.MaxTitleLen-1)+"…", a.Title)
		require.Equal(t, "d", a.Description, "a description of its own is kept")

		b, err := ingest.DecodeGeneric([]byte(`{"summary":"` + strings.Repeat("a", incident.MaxTitleLen) + `c"}`))
		require.NoError(t, err)
		require.NotEqual(t, a.DedupKey, b.DedupKey, "keys come from the whole summary")
	})

	t.Run("dedup key at the limit", func(t *testing.T) {
		t.Parallel()
		key := strings.Repeat("é", incident.MaxDedupKeyLen)
		a, err := ingest.DecodeGeneric([]byte(`{"summary":"s","dedup_key":"` + key + `"}`))
		require.NoError(t, err)
		require.Equal(t, key, a.DedupKey)
	})
}

func TestDecodeGenericErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, field string
	}{
		{"empty body", ``, "body"},
		{"not JSON", `summary=x`, "body"},
		{"array", `[{"summary":"s"}]`, "body"},
		{"trailing data", `{"summary":"s"} {}`, "body"},
		{"unknown field", `{"summary":"s","title":"t"}`, "title"},
		{"field names are exact", `{"Summary":"s"}`, "Summary"},
		{"null body", `null`, "summary"},
		{"no summary", `{"dedup_key":"k"}`, "summary"},
		{"blank summary", `{"summary":" \t\n"}`, "summary"},
		{"summary not a string", `{"summary":["s"]}`, "summary"},
		{"dedup key not a string", `{"summary":"s","dedup_key":7}`, "dedup_key"},
		{"dedup key too long", `{"summary":"s","dedup_key":"` + strings.Repeat("k", incident.MaxDedupKeyLen+1) + `"}`, "dedup_key"},
		{"resolve without dedup key", `{"action":"resolve","summary":"s"}`, "dedup_key"},
		{"acknowledge is not ours", `{"action":"acknowledge","dedup_key":"k"}`, "action"},
		{"action not a string", `{"action":true,"summary":"s"}`, "action"},
		{"unknown severity", `{"summary":"s","severity":"urgent"}`, "severity"},
		{"severity not a string", `{"summary":"s","severity":1}`, "severity"},
		{"details a number", `{"summary":"s","details":1}`, "details"},
		{"details an array", `{"summary":"s","details":["a"]}`, "details"},
		{"details a boolean", `{"summary":"s","details":false}`, "details"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, err := ingest.DecodeGeneric([]byte(c.body))
			var ie *fault.Error
			require.True(t, errors.As(err, &ie), "got %v", err)
			require.Equal(t, c.field, ie.Field)
			require.NotEmpty(t, ie.Message)
			require.Zero(t, a)
		})
	}
}
