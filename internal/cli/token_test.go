package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/testenv"
)

// `token create --login` prints a one-time console link under the
// configured public URL; the link opens one session, as the given user
// and role.
func TestTokenCreateLoginPrintsAOneTimeLink(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("INCIDENT_CONSOLE_PUBLIC_URL", "https://incidents.example.com/")
	code, out, errOut := runCmd(t, "token", "create", "--login", "--user", "alice", "--role", "Responder", "--ttl", "10m")
	require.Equal(t, 0, code, errOut)
	link := strings.TrimSpace(out)
	require.Regexp(t, `^https://incidents\.example\.com/console/login#ll_[a-z2-7]{26}\.[a-z2-7]{52}$`, link)

	s := openStore(t, dbURL)
	token := link[strings.IndexByte(link, '#')+1:]
	ses, _, err := s.RedeemLoginLink(t.Context(), token, time.Hour)
	require.NoError(t, err)
	require.Equal(t, "alice", ses.Subject)
	require.Equal(t, "responder", ses.Role)
	_, _, err = s.RedeemLoginLink(t.Context(), token, time.Hour)
	require.Error(t, err, "the link works once")

	code, _, errOut = runCmd(t, "token", "create", "--login", "--user", "alice", "--role", "admin", "--ttl", "48h")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "at most 24h")
}
