package store_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// newStore is a store on a fresh schema that seals with the tests' keyring.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	return testenv.Store(t, testenv.Postgres(t))
}

func opened(id string, createdAt time.Time) (incident.Incident, incident.Event) {
	inc := incident.Incident{
		ID:          id,
		WorkflowID:  "incident/" + id,
		Title:       "checkout latency above SLO",
		Description: "p99 over 2s for 5m",
		Service:     "checkout",
		Severity:    incident.SeverityHigh,
		Status:      incident.StatusOpen,
		DedupKey:    "checkout:latency",
		CreatedAt:   createdAt,
		UpdatedAt:   createdAt,
		Version:     1,
	}
	ev := incident.Event{
		ID:         "opened",
		IncidentID: id,
		Type:       incident.EventOpened,
		Message:    "opened by alert",
		Data:       map[string]any{"source": "alertmanager"},
		EventTime:  createdAt,
	}
	return inc, ev
}

func acknowledged(inc incident.Incident, by string, at time.Time) (incident.Incident, incident.Event) {
	inc.Status = incident.StatusAcknowledged
	inc.AcknowledgedAt = &at
	inc.AcknowledgedBy = by
	inc.UpdatedAt = at
	inc.Version++
	return inc, incident.Event{
		ID:         "acknowledged",
		IncidentID: inc.ID,
		Type:       incident.EventAcknowledged,
		Actor:      by,
		EventTime:  at,
	}
}

func countRows(t *testing.T, s *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, s.Pool().QueryRow(t.Context(), query, args...).Scan(&n))
	return n
}

func TestOpen(t *testing.T) {
	t.Parallel()
	s, err := store.Open(t.Context(), testenv.DatabaseURL(t), store.PoolOptions{})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Ping(t.Context()))
	cfg := s.Pool().Config()
	require.EqualValues(t, store.DefaultMaxConns, cfg.MaxConns)
	require.Equal(t, store.DefaultMaxConnLifetime, cfg.MaxConnLifetime)
	require.Equal(t, store.DefaultMaxConnIdleTime, cfg.MaxConnIdleTime)

	s2, err := store.Open(t.Context(), testenv.DatabaseURL(t), store.PoolOptions{MaxConns: 3, MinConns: 1, MaxConnLifetime: time.Minute, MaxConnIdleTime: time.Second})
	require.NoError(t, err)
	defer s2.Close()
	cfg = s2.Pool().Config()
	require.EqualValues(t, 3, cfg.MaxConns)
	require.EqualValues(t, 1, cfg.MinConns)
	require.Equal(t, time.Minute, cfg.MaxConnLifetime)
	require.Equal(t, time.Second, cfg.MaxConnIdleTime)

	_, err = store.Open(t.Context(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", store.PoolOptions{})
	require.Error(t, err)
	_, err = store.Open(t.Context(), "::not a url", store.PoolOptions{})
	require.Error(t, err)
}

func TestApplyTransitionRoundTripAndIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	inc, ev := opened("inc-1", t0)

	for range 2 {
		require.NoError(t, errOf(s.ApplyTransition(ctx, inc, ev)))
	}
	got, err := s.GetIncident(ctx, inc.ID)
	require.NoError(t, err)
	require.Equal(t, inc, got)
	require.Equal(t, time.UTC, got.CreatedAt.Location())

	events, err := s.Timeline(ctx, inc.ID, 0)
	require.NoError(t, err)
	require.Equal(t, []incident.Event{ev}, events)

	acked, ackEv := acknowledged(inc, "alice", t0.Add(time.Minute))
	for range 2 {
		require.NoError(t, errOf(s.ApplyTransition(ctx, acked, ackEv)))
	}
	got, err = s.GetIncident(ctx, inc.ID)
	require.NoError(t, err)
	require.Equal(t, acked, got)
	require.Equal(t, 1, countRows(t, s, `SELECT count(*) FROM incidents`))
	require.Equal(t, 2, countRows(t, s, `SELECT count(*) FROM timeline_events WHERE incident_id = $1`, inc.ID))
}

func TestApplyTransitionKeepsNewerVersion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	v1, openEv := opened("inc-1", t0)
	v2, ackEv := acknowledged(v1, "bob", t0.Add(30*time.Second))

	require.NoError(t, errOf(s.ApplyTransition(ctx, v2, ackEv)))
	require.NoError(t, errOf(s.ApplyTransition(ctx, v1, openEv)), "a late write of an older version is not an error")

	got, err := s.GetIncident(ctx, v1.ID)
	require.NoError(t, err)
	require.Equal(t, v2, got, "the older write does not replace the newer row")

	events, err := s.Timeline(ctx, v1.ID, 0)
	require.NoError(t, err)
	require.Equal(t, []incident.Event{openEv, ackEv}, events, "both events are kept, in event time order")
}

func TestApplyTransitionRejectsEventOfAnotherIncident(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	inc, ev := opened("inc-1", t0)
	ev.IncidentID = "inc-2"
	require.Error(t, errOf(s.ApplyTransition(t.Context(), inc, ev)))

	_, err := s.GetIncident(t.Context(), inc.ID)
	requireCode(t, fault.NotFound, err, "nothing was written")

	inc, ev = opened("inc-1", t0)
	ev.ID = ""
	require.Error(t, errOf(s.ApplyTransition(t.Context(), inc, ev)), "an event without an idempotency key is refused")
}

func TestAppendEvent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	_, err := s.AppendEvent(ctx, incident.Event{ID: "note-1", IncidentID: "missing", Type: "note", EventTime: t0})
	requireCode(t, fault.NotFound, err)

	inc, ev := opened("inc-1", t0)
	require.NoError(t, errOf(s.ApplyTransition(ctx, inc, ev)))
	dup := incident.Event{
		ID:         "duplicate-7f3a",
		IncidentID: inc.ID,
		Type:       incident.EventDuplicate,
		Message:    "alert fired again",
		EventTime:  t0.Add(time.Second),
	}
	for range 3 {
		require.NoError(t, errOf(s.AppendEvent(ctx, dup)))
	}
	events, err := s.Timeline(ctx, inc.ID, 0)
	require.NoError(t, err)
	require.Equal(t, []incident.Event{ev, dup}, events)

	got, err := s.GetIncident(ctx, inc.ID)
	require.NoError(t, err)
	require.Equal(t, inc, got, "appending an event leaves the incident as it is")
}

func TestGetIncidentNotFound(t *testing.T) {
	t.Parallel()
	_, err := newStore(t).GetIncident(t.Context(), "nope")
	requireCode(t, fault.NotFound, err)
}

func TestTimeline(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	_, err := s.Timeline(ctx, "missing", 0)
	requireCode(t, fault.NotFound, err)

	inc, openEv := opened("inc-1", t0)
	require.NoError(t, errOf(s.ApplyTransition(ctx, inc, openEv)))
	late := incident.Event{ID: "e-late", IncidentID: inc.ID, Type: "note", Message: "late", EventTime: t0.Add(time.Hour)}
	tieA := incident.Event{ID: "e-tie-a", IncidentID: inc.ID, Type: "note", Message: "first of a tie", EventTime: t0.Add(time.Minute)}
	tieB := incident.Event{ID: "e-tie-b", IncidentID: inc.ID, Type: "note", Message: "second of a tie", EventTime: t0.Add(time.Minute)}
	for _, ev := range []incident.Event{late, tieA, tieB} {
		require.NoError(t, errOf(s.AppendEvent(ctx, ev)))
	}

	events, err := s.Timeline(ctx, inc.ID, 0)
	require.NoError(t, err)
	require.Equal(t, []incident.Event{openEv, tieA, tieB, late}, events,
		"oldest first; equal times in the order they were recorded")
	for _, ev := range events {
		require.Equal(t, time.UTC, ev.EventTime.Location())
	}

	events, err = s.Timeline(ctx, inc.ID, 2)
	require.NoError(t, err)
	require.Equal(t, []incident.Event{openEv, tieA}, events)
}

// Events of one workflow task share a time and may reach Postgres in any
// order; the writer's sequence puts them back in the order they happened.
func TestTimelineOrdersTiesBySequence(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	inc, openEv := opened("inc-seq", t0)
	openEv.Seq = 1
	require.NoError(t, errOf(s.ApplyTransition(ctx, inc, openEv)))
	at := t0.Add(time.Minute)
	resolved := incident.Event{ID: "v3/resolved", IncidentID: inc.ID, Type: incident.EventResolved, EventTime: at, Seq: 3}
	acked := incident.Event{ID: "v2/acknowledged", IncidentID: inc.ID, Type: incident.EventAcknowledged, EventTime: at, Seq: 2}
	require.NoError(t, errOf(s.AppendEvent(ctx, resolved)))
	require.NoError(t, errOf(s.AppendEvent(ctx, acked)))

	events, err := s.Timeline(ctx, inc.ID, 0)
	require.NoError(t, err)
	require.Equal(t, []incident.Event{openEv, acked, resolved}, events)
}

func TestActiveCount(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	n, err := s.ActiveCount(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	for i, st := range []incident.Status{
		incident.StatusOpen, incident.StatusOpen, incident.StatusAcknowledged,
		incident.StatusMitigated, incident.StatusResolved, incident.StatusResolved,
	} {
		inc, ev := opened(fmt.Sprintf("inc-%d", i), t0.Add(time.Duration(i)*time.Minute))
		inc.Status = st
		require.NoError(t, errOf(s.ApplyTransition(ctx, inc, ev)))
	}
	n, err = s.ActiveCount(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)
}

// seedList stores incidents over three services and several severities,
// with groups sharing one created_at so pages must break ties by id.
func seedList(t *testing.T, s *store.Store) []incident.Incident {
	t.Helper()
	services := []string{"checkout", "search", "payments"}
	severities := []incident.Severity{incident.SeverityCritical, incident.SeverityHigh, incident.SeverityLow}
	var all []incident.Incident
	for i := range 14 {
		// Up to three incidents share each created_at; newest first, the
		// groups hold 3,3,3,3,2, so boundaries of pages of 5 fall inside ties.
		inc, ev := opened(fmt.Sprintf("inc-%02d", i), t0.Add(time.Duration((i+1)/3)*time.Second))
		inc.Service = services[i%3]
		inc.Severity = severities[(i/2)%3]
		if i%4 == 0 {
			inc.Status = incident.StatusResolved
		}
		require.NoError(t, errOf(s.ApplyTransition(t.Context(), inc, ev)))
		all = append(all, inc)
	}
	slices.SortFunc(all, func(a, b incident.Incident) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return all
}

func listAll(t *testing.T, s *store.Store, f store.ListFilter) (pages [][]incident.Incident) {
	t.Helper()
	for {
		items, next, err := s.ListIncidents(t.Context(), f)
		require.NoError(t, err)
		pages = append(pages, items)
		if next == "" {
			return pages
		}
		require.Len(t, items, f.Limit, "only the last page is short")
		f.Cursor = next
		require.Less(t, len(pages), 100, "pagination does not end")
	}
}

func TestListIncidentsPaginatesNewestFirst(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	want := seedList(t, s)

	pages := listAll(t, s, store.ListFilter{Limit: 5})
	require.Len(t, pages, 3)
	require.Len(t, pages[2], 4)
	require.Equal(t, want, slices.Concat(pages...))

	items, next, err := s.ListIncidents(t.Context(), store.ListFilter{Limit: len(want)})
	require.NoError(t, err)
	require.Equal(t, want, items)
	require.Empty(t, next, "an exactly full last page has no next cursor")
}

func TestListIncidentsFilters(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	all := seedList(t, s)

	for name, f := range map[string]store.ListFilter{
		"status":           {Status: incident.StatusResolved},
		"severity":         {Severity: incident.SeverityHigh},
		"service":          {Service: "search"},
		"all three":        {Status: incident.StatusOpen, Severity: incident.SeverityCritical, Service: "checkout"},
		"no match":         {Service: "nobody"},
		"service, 2/page":  {Service: "checkout", Limit: 2},
		"status, 3/page":   {Status: incident.StatusOpen, Limit: 3},
		"severity, 1/page": {Severity: incident.SeverityLow, Limit: 1},
	} {
		t.Run(name, func(t *testing.T) {
			var want []incident.Incident
			for _, inc := range all {
				if (f.Status == "" || inc.Status == f.Status) &&
					(f.Severity == "" || inc.Severity == f.Severity) &&
					(f.Service == "" || inc.Service == f.Service) {
					want = append(want, inc)
				}
			}
			if f.Limit == 0 {
				f.Limit = store.DefaultListLimit
			}
			got := slices.Concat(listAll(t, s, f)...)
			if len(want) == 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, want, got)
		})
	}
}

func TestListIncidentsLimits(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	for i := range store.MaxListLimit + 1 {
		inc, ev := opened(fmt.Sprintf("inc-%03d", i), t0.Add(time.Duration(i)*time.Millisecond))
		require.NoError(t, errOf(s.ApplyTransition(ctx, inc, ev)))
	}

	items, next, err := s.ListIncidents(ctx, store.ListFilter{})
	require.NoError(t, err)
	require.Len(t, items, store.DefaultListLimit)
	require.NotEmpty(t, next)

	items, next, err = s.ListIncidents(ctx, store.ListFilter{Limit: 10_000})
	require.NoError(t, err)
	require.Len(t, items, store.MaxListLimit)
	require.NotEmpty(t, next)

	items, next, err = s.ListIncidents(ctx, store.ListFilter{Limit: 10_000, Cursor: next})
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, "inc-000", items[0].ID)
	require.Empty(t, next)
}

func TestListIncidentsRejectsBadCursor(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	for _, c := range []string{
		"%%%",
		base64.RawURLEncoding.EncodeToString([]byte("no separator")),
		base64.RawURLEncoding.EncodeToString([]byte("yesterday|inc-1")),
		base64.RawURLEncoding.EncodeToString([]byte(t0.Format(time.RFC3339Nano) + "|")),
	} {
		_, _, err := s.ListIncidents(t.Context(), store.ListFilter{Cursor: c})
		requireCode(t, fault.Invalid, err, "cursor %q", c)
	}
}

// errOf drops the inserted flag of a write for assertions on its error.
func errOf(_ bool, err error) error { return err }
