package notify_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/notify"
)

func TestSummary(t *testing.T) {
	t.Parallel()
	for want, p := range map[string]notify.Page{
		"[CRITICAL] checkout: p99 above 2s (inc_42)": {IncidentID: "inc_42", Title: "p99 above 2s", Service: "checkout", Severity: "critical"},
		"checkout: p99 above 2s (inc_42)":            {IncidentID: "inc_42", Title: "p99 above 2s", Service: "checkout"},
		"[LOW] p99 above 2s (inc_42)":                {IncidentID: "inc_42", Title: "p99 above 2s", Severity: "low"},
		"[HIGH] checkout":                            {Service: "checkout", Severity: "high"},
		"[HIGH] two lines  and a tab (inc_1)":        {IncidentID: "inc_1", Title: "two lines\r\nand\ta tab", Severity: "high"},
	} {
		require.Equal(t, want, p.Summary())
	}
}

func TestStepText(t *testing.T) {
	t.Parallel()
	require.Equal(t, "escalation step 2 (ack_timeout)", notify.Page{Step: 2, Reason: "ack_timeout"}.StepText())
	require.Equal(t, "escalation step 1", notify.Page{Step: 1}.StepText())
	require.Empty(t, notify.Page{Reason: "escalation"}.StepText())
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a b c d e", notify.OneLine("a\nb\rc\u2028d\x00e"))
	require.Equal(t, "ünïcode stays", notify.OneLine("ünïcode stays"))
}
