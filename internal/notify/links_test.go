package notify_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/ackcode"
)

var linkSecret = []byte("0123456789abcdef0123456789abcdef")

func TestAckLinkRoundTrip(t *testing.T) {
	t.Parallel()
	l := &notify.Links{PublicURL: "https://incidents.example.com/", Secret: linkSecret, TTL: time.Hour}
	due := time.Date(2026, 3, 1, 9, 0, 0, 500, time.UTC)
	link, exp, err := l.Ack("inc_1", "usr_a", "d1", due)
	require.NoError(t, err)
	require.Equal(t, due.Add(time.Hour).Truncate(time.Second), exp)
	again, _, err := l.Ack("inc_1", "usr_a", "d1", due)
	require.NoError(t, err)
	require.Equal(t, link, again, "a retried send renders the same link")
	tok, ok := strings.CutPrefix(link, "https://incidents.example.com"+notify.AckPath)
	require.True(t, ok, link)

	c, err := l.Verify(notify.PurposeAck, tok, due.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, "inc_1", c.IncidentID)
	require.Equal(t, "usr_a", c.UserID)
	require.Equal(t, ackcode.NonceFor("d1"), c.Nonce)
	_, err = l.Verify(notify.PurposeAck, tok, exp)
	require.ErrorIs(t, err, ackcode.ErrExpired)
	_, err = l.Verify(notify.PurposeKeypress, tok, due)
	require.ErrorIs(t, err, ackcode.ErrMalformed, "a link is not a keypress token")

	press, err := l.Keypress("inc_1", "usr_a", "d1", due)
	require.NoError(t, err)
	u, err := url.Parse(press)
	require.NoError(t, err)
	require.Equal(t, notify.KeypressPath, u.Path)
	_, err = l.Verify(notify.PurposeAck, u.Query().Get("token"), due)
	require.ErrorIs(t, err, ackcode.ErrMalformed, "a keypress token is not a link")
	c, err = l.Verify(notify.PurposeKeypress, u.Query().Get("token"), due)
	require.NoError(t, err)
	require.Equal(t, "usr_a", c.UserID)
}

func TestLinksWithoutConfiguration(t *testing.T) {
	t.Parallel()
	var none *notify.Links
	require.False(t, none.Signs())
	require.Empty(t, none.Incident("inc_1"))
	_, _, err := none.Ack("inc_1", "usr_a", "d1", time.Now())
	require.True(t, errors.Is(err, notify.ErrNoLinks))

	l := &notify.Links{PublicURL: "https://incidents.example.com"}
	require.Equal(t, "https://incidents.example.com/api/v1/incidents/inc_1", l.Incident("inc_1"))
	_, err = l.Keypress("inc_1", "usr_a", "d1", time.Now())
	require.ErrorIs(t, err, notify.ErrNoLinks, "no secret, no links")
	l.IncidentURL = "https://console.example.com/#/incidents/{id}"
	require.Equal(t, "https://console.example.com/#/incidents/inc_1", l.Incident("inc_1"))
}
