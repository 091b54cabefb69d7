package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// TestThroughPgBouncer runs the store through a real PgBouncer in
// transaction pooling mode with two server connections shared by eight
// clients: migrations, then concurrent opens, acknowledgements, lists and
// timelines, in each query exec mode that config recommends for it.
func TestThroughPgBouncer(t *testing.T) {
	t.Parallel()
	bouncer := testenv.StartPgBouncer(t, testenv.PgBouncerOptions{PoolSize: 2})

	for _, mode := range []string{"exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s, err := store.Open(ctx, bouncer.URL(t, testenv.DatabaseName(t)), store.PoolOptions{MaxConns: 8, QueryExecMode: mode})
			require.NoError(t, err)
			t.Cleanup(s.Close)

			applied, err := store.MigrateUp(ctx, s.Pool())
			require.NoError(t, err)
			require.NotEmpty(t, applied)
			applied, err = store.MigrateUp(ctx, s.Pool())
			require.NoError(t, err)
			require.Empty(t, applied, "the migration record is read back through PgBouncer")

			const n = 24
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() {
					errs <- openAndAcknowledge(t, s, i)
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}

			active, err := s.ActiveCount(ctx)
			require.NoError(t, err)
			require.EqualValues(t, n, active)

			acked, _, err := s.ListIncidents(ctx, store.ListFilter{Status: incident.StatusAcknowledged, Limit: 100})
			require.NoError(t, err)
			require.Len(t, acked, n/2)

			var seen []string
			cursor := ""
			for {
				page, next, err := s.ListIncidents(ctx, store.ListFilter{Service: "checkout", Limit: 5, Cursor: cursor})
				require.NoError(t, err)
				for _, inc := range page {
					seen = append(seen, inc.ID)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			require.Len(t, seen, n, "paging through PgBouncer returns every incident once")

			events, err := s.Timeline(ctx, "pgb-1", 0)
			require.NoError(t, err)
			require.Len(t, events, 2)
			require.Equal(t, incident.EventAcknowledged, events[1].Type)
			_, err = s.Timeline(ctx, "missing", 0)
			requireCode(t, fault.NotFound, err)
		})
	}

	// The reason for the setting: pgx's default mode prepares named
	// statements, and the second client to prepare one on a shared server
	// connection is refused.
	t.Run("cache_statement fails", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		url := bouncer.URL(t, testenv.DatabaseName(t))
		const clients = 4
		var failures []error
		for i := range clients {
			s, err := store.Open(ctx, url, store.PoolOptions{MaxConns: 1, QueryExecMode: "cache_statement"})
			require.NoError(t, err, "client %d", i)
			t.Cleanup(s.Close)
			var one int
			if err := s.Pool().QueryRow(ctx, "SELECT $1::int", i).Scan(&one); err != nil {
				failures = append(failures, err)
			}
		}
		require.NotEmpty(t, failures, "%d clients on 2 server connections all prepared the same statement", clients)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(failures[0], &pgErr), "%v", failures[0])
		require.Equal(t, "42P05", pgErr.Code, "duplicate_prepared_statement")
	})
}

// openAndAcknowledge opens incident pgb-<i> and acknowledges every second one.
func openAndAcknowledge(t *testing.T, s *store.Store, i int) error {
	ctx := t.Context()
	at := t0.Add(time.Duration(i) * time.Second)
	inc, ev := opened(fmt.Sprintf("pgb-%d", i), at)
	inc.DedupKey = inc.ID
	if _, err := s.ApplyTransition(ctx, inc, ev); err != nil {
		return fmt.Errorf("open %s: %w", inc.ID, err)
	}
	if i%2 == 1 {
		acked, ackEv := acknowledged(inc, "alice", at.Add(time.Minute))
		if _, err := s.ApplyTransition(ctx, acked, ackEv); err != nil {
			return fmt.Errorf("acknowledge %s: %w", inc.ID, err)
		}
	}
	got, err := s.GetIncident(ctx, inc.ID)
	if err != nil {
		return err
	}
	if got.ID != inc.ID {
		return fmt.Errorf("read %s back as %s", inc.ID, got.ID)
	}
	return nil
}

// TestReplicaServesListsAndTimelines points the replica pool at a database
// holding an incident the primary lacks: lists and timelines see it, every
// other read goes to the primary.
func TestReplicaServesListsAndTimelines(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	primaryURL, replicaURL := testenv.PostgresURL(t), testenv.PostgresURL(t)

	replicaOnly, err := store.Open(ctx, replicaURL, store.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(replicaOnly.Close)
	inc, ev := opened("on-replica", t0)
	_, err = replicaOnly.ApplyTransition(ctx, inc, ev)
	require.NoError(t, err)

	s, err := store.Open(ctx, primaryURL, store.PoolOptions{MaxConns: 2, ReplicaURL: replicaURL})
	require.NoError(t, err)
	t.Cleanup(s.Close)

	list, _, err := s.ListIncidents(ctx, store.ListFilter{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, inc.ID, list[0].ID)
	events, err := s.Timeline(ctx, inc.ID, 0)
	require.NoError(t, err)
	require.Len(t, events, 1)

	_, err = s.GetIncident(ctx, inc.ID)
	requireCode(t, fault.NotFound, err, "single reads use the primary")
	active, err := s.ActiveCount(ctx)
	require.NoError(t, err)
	require.Zero(t, active)

	_, err = store.Open(ctx, primaryURL, store.PoolOptions{ReplicaURL: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"})
	require.ErrorContains(t, err, "replica")
	_, err = store.Open(ctx, primaryURL, store.PoolOptions{QueryExecMode: "prepared"})
	require.ErrorContains(t, err, "query exec mode")
}
