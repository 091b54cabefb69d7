package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/testenv"
)

// TestRealGorush speaks our push client to the real Gorush that make test
// runs offline: APNs is unreachable, so the push is accepted and reported
// failed, and the counters move by exactly one. It is not parallel: the
// counters are global, and the other Gorush tests of this package count too.
func TestRealGorush(t *testing.T) {
	g := push.NewGorush(testenv.GorushURL(t), 30*time.Second)
	require.NoError(t, g.Healthy(t.Context()))

	before, err := g.Stats(t.Context())
	require.NoError(t, err)

	token := "test-token-" + strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "")
	res, err := g.Send(t.Context(), push.Notification{
		ID:       "real-gorush-1",
		Tokens:   []string{token},
		Platform: push.PlatformIOS,
		Title:    "db down",
		Message:  "page from the push tests",
		Priority: "high",
	})
	require.NoError(t, err, "a push that APNs cannot take is a result, not an error")
	require.Equal(t, 1, res.Counts)
	require.Len(t, res.Logs, 1, "raw answer: %s", res.Raw)
	l := res.Logs[0]
	require.Equal(t, "real-gorush-1", l.ID)
	require.Equal(t, push.LogFailedPush, l.Type)
	require.Equal(t, "ios", l.Platform)
	require.Equal(t, token, l.Token, "the local Gorush runs with log.hide_token false")
	require.Equal(t, "page from the push tests", l.Message)
	require.NotEmpty(t, l.Error)
	require.Equal(t, res.Logs, res.Failed())

	after, err := g.Stats(t.Context())
	require.NoError(t, err)
	require.Equal(t, before.IOS.PushError+1, after.IOS.PushError, "ios push_error")
	require.Equal(t, before.IOS.PushSuccess, after.IOS.PushSuccess, "ios push_success")
	require.Equal(t, before.TotalCount+1, after.TotalCount, "total_count")
}
