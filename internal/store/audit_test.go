package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/store"
)

func TestAuditRecordListAndPurge(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	record := func(at time.Time, actor, route, target string, status int, summary string) store.AuditEvent {
		t.Helper()
		e, err := s.RecordAudit(ctx, store.AuditEvent{At: at, Actor: actor, CredentialKind: "user", CredentialID: actor,
			Method: "PUT", Route: route, Path: "/x/" + target, Target: target, Status: status, RequestID: "req-" + target,
			Summary: json.RawMessage(summary)})
		require.NoError(t, err)
		return e
	}
	for i := range 5 {
		record(base.Add(time.Duration(i)*time.Minute), "alice", "/api/v1/users/:id", fmt.Sprintf("usr_%d", i), 200,
			`{"before":{"name":"A"},"after":{"name":"B"}}`)
	}
	refused := record(base.Add(10*time.Minute), "bob", "/api/v1/services/:id", "checkout", 403, "")
	old := record(base.Add(-400*24*time.Hour), "carol", "/api/v1/services/:id", "old", 204, "")

	all, next, err := s.ListAudit(ctx, store.AuditFilter{})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, all, 7)
	require.Equal(t, refused, all[0], "newest first, as recorded")
	require.Nil(t, all[0].Summary)
	require.JSONEq(t, `{"before":{"name":"A"},"after":{"name":"B"}}`, string(all[1].Summary))

	// Pages of two, newest first, stable while newer events arrive.
	var seen []string
	f := store.AuditFilter{Actor: "alice", Limit: 2}
	for {
		page, cursor, err := s.ListAudit(ctx, f)
		require.NoError(t, err)
		for _, e := range page {
			seen = append(seen, e.Target)
		}
		if cursor == "" {
			break
		}
		record(base.Add(time.Hour), "alice", "/api/v1/users/:id", "newer", 200, "")
		f.Cursor = cursor
	}
	require.Equal(t, []string{"usr_4", "usr_3", "usr_2", "usr_1", "usr_0"}, seen)

	for _, tc := range []struct {
		f    store.AuditFilter
		want int
	}{
		{store.AuditFilter{Route: "/api/v1/services/:id"}, 2},
		{store.AuditFilter{Target: "usr_3"}, 1},
		{store.AuditFilter{Actor: "alice", From: base.Add(2 * time.Minute), To: base.Add(4 * time.Minute)}, 2},
		{store.AuditFilter{Actor: "nobody"}, 0},
	} {
		got, _, err := s.ListAudit(ctx, tc.f)
		require.NoError(t, err)
		require.Len(t, got, tc.want, "%+v", tc.f)
	}
	_, _, err = s.ListAudit(ctx, store.AuditFilter{Cursor: "bm90IGEgY3Vyc29y"})
	require.Equal(t, fault.Invalid, fault.CodeOf(err))

	_, err = s.RecordAudit(ctx, store.AuditEvent{Actor: "x", Summary: json.RawMessage(`[1]`)})
	require.Equal(t, fault.Invalid, fault.CodeOf(err))

	purged, err := s.PurgeAudit(ctx, base.Add(-365*24*time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 1, purged)
	got, _, err := s.ListAudit(ctx, store.AuditFilter{Target: old.Target})
	require.NoError(t, err)
	require.Empty(t, got)
	purged, err = s.PurgeAudit(ctx, base.Add(-365*24*time.Hour))
	require.NoError(t, err)
	require.Zero(t, purged, "idempotent")
}
