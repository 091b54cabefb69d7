package ingest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/ingest"
)

func TestMapSeverity(t *testing.T) {
	t.Parallel()
	want := map[incident.Severity][]string{
		incident.SeverityCritical: {"critical", "crit", "p1", "page", "emergency", "fatal"},
		incident.SeverityHigh:     {"high", "error", "err", "p2", "major"},
		incident.SeverityMedium:   {"warning", "warn", "medium", "p3", "minor"},
		incident.SeverityLow:      {"low", "p4"},
		incident.SeverityInfo:     {"info", "informational", "p5", "none", "debug"},
	}
	for sev, names := range want {
		for _, name := range names {
			got, ok := ingest.MapSeverity(name)
			require.True(t, ok, name)
			require.Equal(t, sev, got, name)
		}
	}
	for _, name := range []string{"CRITICAL", " Warning\n", "P1"} {
		_, ok := ingest.MapSeverity(name)
		require.True(t, ok, "case and surrounding space are ignored: %q", name)
	}
	for _, name := range []string{"", " ", "urgent", "sev1", "critical!", "p 1"} {
		got, ok := ingest.MapSeverity(name)
		require.False(t, ok, name)
		require.Empty(t, got)
	}
}

func TestActionValid(t *testing.T) {
	t.Parallel()
	for _, a := range []incident.AlertAction{incident.AlertTrigger, incident.AlertAcknowledge, incident.AlertResolve} {
		require.True(t, a.Valid(), a)
	}
	for _, a := range []incident.AlertAction{"", "Trigger", "mitigate"} {
		require.False(t, a.Valid(), a)
	}
}
