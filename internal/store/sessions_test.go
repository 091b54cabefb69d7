package store_test

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
)

func TestLoginLinkOpensOneSession(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	link, token, err := s.CreateLoginLink(ctx, store.NewLoginLink{Subject: "alice", Role: "responder", ExpiresAt: time.Now().Add(time.Minute), CreatedBy: "admin"})
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^ll_[a-z2-7]{26}\.[a-z2-7]{52}$`), token)
	require.True(t, strings.HasPrefix(token, link.ID+"."))

	// Two browsers present the link at once: one session, one refusal.
	var wg sync.WaitGroup
	results := make([]error, 2)
	cookies := make([]string, 2)
	for i := range results {
		wg.Go(func() {
			_, cookies[i], results[i] = s.RedeemLoginLink(ctx, token, time.Hour)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range results {
		if err == nil {
			won++
			ses, err := s.AuthenticateSession(ctx, cookies[i])
			require.NoError(t, err)
			require.Equal(t, "alice", ses.Subject)
			require.Equal(t, "responder", ses.Role)
			require.Equal(t, store.SessionByLoginLink, ses.Method)
			require.WithinDuration(t, time.Now().Add(time.Hour), ses.ExpiresAt, time.Minute)
			continue
		}
		requireCode(t, fault.Unauthorized, err, "the second redemption")
	}
	require.Equal(t, 1, won, "a link opens exactly one session")
	_, _, err = s.RedeemLoginLink(ctx, token, time.Hour)
	requireCode(t, fault.Unauthorized, err, "a used link")
}

func TestLoginLinkRefusals(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	_, token, err := s.CreateLoginLink(ctx, store.NewLoginLink{Subject: "bob", Role: "viewer", ExpiresAt: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	wrong := token[:len(token)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(token, "a")]
	for name, bad := range map[string]string{"wrong secret": wrong, "garbage": "ll_x.y", "empty": "", "session shape": "cs_" + token[3:]} {
		_, _, err := s.RedeemLoginLink(ctx, bad, time.Hour)
		requireCode(t, fault.Unauthorized, err, name)
	}
	_, _, err = s.RedeemLoginLink(ctx, token, time.Hour)
	require.NoError(t, err, "failed attempts do not use the link up")

	_, expired, err := s.CreateLoginLink(ctx, store.NewLoginLink{Subject: "bob", Role: "viewer", ExpiresAt: time.Now().Add(-time.Second)})
	require.NoError(t, err)
	_, _, err = s.RedeemLoginLink(ctx, expired, time.Hour)
	requireCode(t, fault.Unauthorized, err, "an expired link")
}

func TestSessionRevokedAndExpired(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	ses, cookie, err := s.CreateSession(ctx, store.NewSession{Subject: "carol", Role: "admin", Method: store.SessionByToken, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	got, err := s.AuthenticateSession(ctx, cookie)
	require.NoError(t, err)
	require.Equal(t, ses.ID, got.ID)

	var hash []byte
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT secret_hash FROM console_sessions WHERE id = $1`, ses.ID).Scan(&hash))
	require.NotContains(t, string(hash), cookie[len(ses.ID)+1:], "only a hash of the secret is stored")

	require.NoError(t, s.RevokeSession(ctx, ses.ID))
	require.NoError(t, s.RevokeSession(ctx, ses.ID), "signing out twice succeeds")
	_, err = s.AuthenticateSession(ctx, cookie)
	requireCode(t, fault.Unauthorized, err, "a revoked session")

	_, old, err := s.CreateSession(ctx, store.NewSession{Subject: "carol", Role: "admin", Method: store.SessionByToken, ExpiresAt: time.Now().Add(-time.Second)})
	require.NoError(t, err)
	_, err = s.AuthenticateSession(ctx, old)
	requireCode(t, fault.Unauthorized, err, "an expired session")

	n, err := s.PurgeSessions(ctx, time.Now())
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "the expired session is purged, the live one kept")
}

func TestTimelineSince(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	inc, openEv := opened("inc-since", t0)
	openEv.Seq = 1
	require.NoError(t, errOf(s.ApplyTransition(ctx, inc, openEv)))
	// Written out of order, as one workflow task's events can commit.
	third := incident.Event{ID: "note/3", IncidentID: inc.ID, Type: incident.EventNote, EventTime: t0, Seq: 3}
	second := incident.Event{ID: "note/2", IncidentID: inc.ID, Type: incident.EventNote, EventTime: t0.Add(time.Second), Seq: 2}
	unnumbered := incident.Event{ID: "workflow_missing/x", IncidentID: inc.ID, Type: incident.EventWorkflowMissing, EventTime: t0}
	for _, ev := range []incident.Event{third, second, unnumbered} {
		require.NoError(t, errOf(s.AppendEvent(ctx, ev)))
	}
	events, err := s.TimelineSince(ctx, inc.ID, 1, 0)
	require.NoError(t, err)
	require.Equal(t, []incident.Event{second, third}, events, "in sequence order, unnumbered events left out")
	events, err = s.TimelineSince(ctx, inc.ID, 3, 0)
	require.NoError(t, err)
	require.Empty(t, events)
}
