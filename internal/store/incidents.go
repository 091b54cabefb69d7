package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
)

// List and timeline page sizes.
const (
	DefaultListLimit  = 50
	MaxListLimit      = 200
	MaxTimelineLimit  = 1000
	pgForeignKeyError = "23503"
)

const incidentColumns = `id, workflow_id, title, description, service, severity, status,
	coalesce(dedup_key, ''), created_at, updated_at, acknowledged_at,
	coalesce(acknowledged_by, ''), mitigated_at, resolved_at, coalesce(resolved_by, ''), version,
	response_due_at, resolution_due_at`

// upsertIncident never lets an older write replace a newer one: the update
// applies only when the row's version is older. created_at is kept from the
// first write because it orders the list.
const upsertIncident = `
INSERT INTO incidents (id, workflow_id, title, description, service, severity, status,
	dedup_key, created_at, updated_at, acknowledged_at, acknowledged_by, mitigated_at,
	resolved_at, resolved_by, version, response_due_at, resolution_due_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), $9, $10, $11, nullif($12, ''), $13,
	$14, nullif($15, ''), $16, $17, $18)
ON CONFLICT (id) DO UPDATE SET
	workflow_id = EXCLUDED.workflow_id,
	title = EXCLUDED.title,
	description = EXCLUDED.description,
	service = EXCLUDED.service,
	severity = EXCLUDED.severity,
	status = EXCLUDED.status,
	dedup_key = EXCLUDED.dedup_key,
	updated_at = EXCLUDED.updated_at,
	acknowledged_at = EXCLUDED.acknowledged_at,
	acknowledged_by = EXCLUDED.acknowledged_by,
	mitigated_at = EXCLUDED.mitigated_at,
	resolved_at = EXCLUDED.resolved_at,
	resolved_by = EXCLUDED.resolved_by,
	version = EXCLUDED.version,
	response_due_at = EXCLUDED.response_due_at,
	resolution_due_at = EXCLUDED.resolution_due_at
WHERE incidents.version < EXCLUDED.version`

const insertEvent = `
INSERT INTO timeline_events (incident_id, event_key, event_type, actor, message, data, event_time, seq)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (incident_id, event_key) DO NOTHING`

// ApplyTransition records one step of an incident's lifecycle in a single
// transaction: the incident row as the workflow now holds it, the timeline
// event that explains the step, and the events that follow it (also). It is
// idempotent: a repeated call stores nothing twice, and a call whose
// incident version is not newer than the stored row leaves the row as it is
// but still records its events. An event with no IncidentID belongs to inc.
//
// inserted reports whether this call stored ev, false when an earlier call
// had: callers count a fact once by counting only then.
func (s *Store) ApplyTransition(ctx context.Context, inc incident.Incident, ev incident.Event, also ...incident.Event) (inserted bool, err error) {
	events := append([]incident.Event{ev}, also...)
	args := make([][]any, len(events))
	for i, e := range events {
		if e.IncidentID == "" {
			e.IncidentID = inc.ID
		}
		if e.IncidentID != inc.ID {
			return false, fmt.Errorf("apply transition: event belongs to incident %q, not %q", e.IncidentID, inc.ID)
		}
		if args[i], err = eventArgs(e); err != nil {
			return false, fail("apply transition", err)
		}
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, upsertIncident,
			inc.ID, inc.WorkflowID, inc.Title, inc.Description, inc.Service,
			string(inc.Severity), string(inc.Status), inc.DedupKey, inc.CreatedAt,
			inc.UpdatedAt, inc.AcknowledgedAt, inc.AcknowledgedBy, inc.MitigatedAt,
			inc.ResolvedAt, inc.ResolvedBy, inc.Version, inc.ResponseDueAt, inc.ResolutionDueAt,
		); err != nil {
			return fail("upsert incident", err)
		}
		for i, a := range args {
			tag, err := tx.Exec(ctx, insertEvent, a...)
			if err != nil {
				return fail("insert event", err)
			}
			if i == 0 {
				inserted = tag.RowsAffected() == 1
			}
		}
		return nil
	})
	if err != nil {
		return false, fail(fmt.Sprintf("apply transition %s", inc.ID), err)
	}
	return inserted, nil
}

// AppendEvent adds an event to an existing incident's timeline without
// changing the incident. A repeated call with the same event ID stores it
// once; inserted is false for the repeats. The error is a fault.NotFound when
// the incident does not exist.
func (s *Store) AppendEvent(ctx context.Context, ev incident.Event) (inserted bool, err error) {
	args, err := eventArgs(ev)
	if err != nil {
		return false, fail("append event", err)
	}
	tag, err := s.pool.Exec(ctx, insertEvent, args...)
	if err != nil {
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == pgForeignKeyError {
			return false, fmt.Errorf("append event to %s: %w", ev.IncidentID, fault.Missing("incident"))
		}
		return false, fail("append event", err)
	}
	return tag.RowsAffected() == 1, nil
}

func eventArgs(ev incident.Event) ([]any, error) {
	switch {
	case ev.IncidentID == "":
		return nil, errors.New("event has no incident id")
	case ev.ID == "":
		// The ID is the idempotency key; without one, distinct events would
		// collapse into one row.
		return nil, errors.New("event has no id")
	case ev.Type == "":
		return nil, errors.New("event has no type")
	case ev.EventTime.IsZero():
		return nil, errors.New("event has no time")
	}
	data := []byte("{}")
	if len(ev.Data) > 0 {
		var err error
		if data, err = json.Marshal(ev.Data); err != nil {
			return nil, fail("encode event data", err)
		}
	}
	return []any{ev.IncidentID, ev.ID, string(ev.Type), ev.Actor, ev.Message, string(data), ev.EventTime, ev.Seq}, nil
}

// GetIncident returns one incident. The error is a fault.NotFound when it does
// not exist.
func (s *Store) GetIncident(ctx context.Context, id string) (incident.Incident, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = $1`, id)
	if err != nil {
		return incident.Incident{}, fail(fmt.Sprintf("get incident %s", id), err)
	}
	inc, err := pgx.CollectExactlyOneRow(rows, scanIncident)
	if errors.Is(err, pgx.ErrNoRows) {
		return incident.Incident{}, fmt.Errorf("get incident %s: %w", id, fault.Missing("incident"))
	}
	if err != nil {
		return incident.Incident{}, fail(fmt.Sprintf("get incident %s", id), err)
	}
	return inc, nil
}

// OpenIncidentOf returns the newest incident workflowID holds that is not
// resolved, and false when there is none.
func (s *Store) OpenIncidentOf(ctx context.Context, workflowID string) (incident.Incident, bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+incidentColumns+` FROM incidents
		WHERE workflow_id = $1 AND status <> 'resolved' ORDER BY created_at DESC LIMIT 1`, workflowID)
	if err != nil {
		return incident.Incident{}, false, fail(fmt.Sprintf("open incident of %s", workflowID), err)
	}
	inc, err := pgx.CollectExactlyOneRow(rows, scanIncident)
	if errors.Is(err, pgx.ErrNoRows) {
		return incident.Incident{}, false, nil
	}
	if err != nil {
		return incident.Incident{}, false, fail(fmt.Sprintf("open incident of %s", workflowID), err)
	}
	return inc, true, nil
}

// OpenedByRequest reports whether incident id was opened by the keyed
// request requestKey (contract.OpenRequestKey): its opened event names it.
func (s *Store) OpenedByRequest(ctx context.Context, id, requestKey string) (bool, error) {
	var opened bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM timeline_events
		WHERE incident_id = $1 AND event_key = 'opened' AND data->>$2 = $3)`,
		id, contract.EventRequestKey, requestKey).Scan(&opened)
	if err != nil {
		return false, fail(fmt.Sprintf("opener of %s", id), err)
	}
	return opened, nil
}

// RecordedRequest reports whether a timeline event of incident id names
// the keyed request requestKey (contract.EventRequestKey): the request took
// effect.
func (s *Store) RecordedRequest(ctx context.Context, id, requestKey string) (bool, error) {
	var recorded bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM timeline_events
		WHERE incident_id = $1 AND data->>$2 = $3)`,
		id, contract.EventRequestKey, requestKey).Scan(&recorded)
	if err != nil {
		return false, fail(fmt.Sprintf("request %s of %s", requestKey, id), err)
	}
	return recorded, nil
}

// ListFilter selects incidents. Empty fields match everything.
type ListFilter struct {
	Status   incident.Status
	Severity incident.Severity
	Service  string
	// Limit is the page size: DefaultListLimit when zero or negative, at
	// most MaxListLimit.
	Limit int
	// Cursor is the next value of a previous page; empty for the first page.
	Cursor string
}

// ListIncidents reads the replica when there is one (see
// PoolOptions.ReplicaURL). It returns one page of incidents matching f, newest first
// (created_at, then id, descending), and the cursor of the next page, which
// is empty on the last page. Pages are stable under concurrent inserts of
// newer incidents. An undecodable cursor gives an error of code
// fault.Invalid.
func (s *Store) ListIncidents(ctx context.Context, f ListFilter) ([]incident.Incident, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)

	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if f.Severity != "" {
		where = append(where, "severity = "+arg(string(f.Severity)))
	}
	if f.Service != "" {
		where = append(where, "service = "+arg(f.Service))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", fail("list incidents", err)
		}
		where = append(where, "(created_at, id) < ("+arg(at)+", "+arg(id)+")")
	}
	q := `SELECT ` + incidentColumns + ` FROM incidents`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	// One extra row tells whether another page follows.
	q += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(limit+1)

	rows, err := s.replica.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fail("list incidents", err)
	}
	items, err := pgx.CollectRows(rows, scanIncident)
	if err != nil {
		return nil, "", fail("list incidents", err)
	}
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	last := items[limit-1]
	return items, encodeCursor(last.CreatedAt, last.ID), nil
}

// A cursor is base64url("<created_at RFC3339Nano>|<id>") of the last item
// of a page. Postgres keeps microseconds, which RFC3339Nano holds exactly.
const cursorSep = "|"

func encodeCursor(createdAt time.Time, id string) string {
	raw := createdAt.UTC().Format(time.RFC3339Nano) + cursorSep + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", invalidCursor(err)
	}
	ts, id, ok := strings.Cut(string(raw), cursorSep)
	if !ok || id == "" {
		return time.Time{}, "", invalidCursor(errors.New("malformed"))
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", invalidCursor(err)
	}
	return at, id, nil
}

// Timeline reads the replica when there is one (see
// PoolOptions.ReplicaURL). It returns up to limit events of an incident, oldest first (by
// event time, then by the writer's sequence, then by the order they were
// recorded). limit is MaxTimelineLimit
// when zero, negative or larger. The error is a fault.NotFound when the
// incident does not exist.
func (s *Store) Timeline(ctx context.Context, incidentID string, limit int) ([]incident.Event, error) {
	if limit <= 0 || limit > MaxTimelineLimit {
		limit = MaxTimelineLimit
	}
	rows, err := s.replica.Query(ctx, `
		SELECT event_key, incident_id, event_type, actor, message, data, event_time, seq
		FROM timeline_events
		WHERE incident_id = $1
		ORDER BY event_time, seq, id
		LIMIT $2`, incidentID, limit)
	if err != nil {
		return nil, fail(fmt.Sprintf("timeline %s", incidentID), err)
	}
	events, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fail(fmt.Sprintf("timeline %s", incidentID), err)
	}
	return s.timelineOf(ctx, incidentID, events)
}

// TimelineAfter lists the incident's events with a sequence number after
// after, in sequence order, at most limit (MaxTimelineLimit when 0 or
// more): one page of a timeline read from its start (after 0). An unknown
// incident is fault.NotFound.
func (s *Store) TimelineAfter(ctx context.Context, incidentID string, after int64, limit int) ([]incident.Event, error) {
	events, err := s.TimelineSince(ctx, incidentID, after, limit)
	if err != nil {
		return nil, err
	}
	return s.timelineOf(ctx, incidentID, events)
}

// timelineOf returns events, a page of incidentID's timeline; an empty
// page of an incident that does not exist is fault.NotFound.
func (s *Store) timelineOf(ctx context.Context, incidentID string, events []incident.Event) ([]incident.Event, error) {
	if len(events) > 0 {
		return events, nil
	}
	var exists bool
	if err := s.replica.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM incidents WHERE id = $1)`, incidentID).Scan(&exists); err != nil {
		return nil, fail(fmt.Sprintf("timeline %s", incidentID), err)
	}
	if !exists {
		return nil, fmt.Errorf("timeline %s: %w", incidentID, fault.Missing("incident"))
	}
	return events, nil
}

// ActiveCount counts incidents that are not resolved.
func (s *Store) ActiveCount(ctx context.Context) (int64, error) {
	// The predicate repeats idx_incidents_active's so the planner can use it.
	var n int64
	err := s.pool.QueryRow(ctx,
		`SELECT count(*) FROM incidents WHERE status IN ('open', 'acknowledged', 'mitigated')`,
	).Scan(&n)
	if err != nil {
		return 0, fail("count active incidents", err)
	}
	return n, nil
}

func scanIncident(row pgx.CollectableRow) (incident.Incident, error) {
	var inc incident.Incident
	err := row.Scan(&inc.ID, &inc.WorkflowID, &inc.Title, &inc.Description, &inc.Service,
		&inc.Severity, &inc.Status, &inc.DedupKey, &inc.CreatedAt, &inc.UpdatedAt,
		&inc.AcknowledgedAt, &inc.AcknowledgedBy, &inc.MitigatedAt, &inc.ResolvedAt,
		&inc.ResolvedBy, &inc.Version, &inc.ResponseDueAt, &inc.ResolutionDueAt)
	if err != nil {
		return incident.Incident{}, err
	}
	inc.CreatedAt = inc.CreatedAt.UTC()
	inc.UpdatedAt = inc.UpdatedAt.UTC()
	inc.AcknowledgedAt = utc(inc.AcknowledgedAt)
	inc.MitigatedAt = utc(inc.MitigatedAt)
	inc.ResolvedAt = utc(inc.ResolvedAt)
	inc.ResponseDueAt = utc(inc.ResponseDueAt)
	inc.ResolutionDueAt = utc(inc.ResolutionDueAt)
	return inc, nil
}

func scanEvent(row pgx.CollectableRow) (incident.Event, error) {
	var ev incident.Event
	err := row.Scan(&ev.ID, &ev.IncidentID, &ev.Type, &ev.Actor, &ev.Message, &ev.Data, &ev.EventTime, &ev.Seq)
	if err != nil {
		return incident.Event{}, err
	}
	if len(ev.Data) == 0 {
		ev.Data = nil
	}
	ev.EventTime = ev.EventTime.UTC()
	return ev, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// TimelineSince returns up to limit events of an incident whose sequence
// is above after, in sequence order: what a live view that has seen
// everything up to after is missing. Events the workflow did not number
// (seq 0: the maintenance run's) are never among them. It reads the
// primary: it answers a notice that a write just committed, which a
// replica may not have yet.
func (s *Store) TimelineSince(ctx context.Context, incidentID string, after int64, limit int) ([]incident.Event, error) {
	if limit <= 0 || limit > MaxTimelineLimit {
		limit = MaxTimelineLimit
	}
	rows, err := s.pool.Query(ctx, `
		SELECT event_key, incident_id, event_type, actor, message, data, event_time, seq
		FROM timeline_events
		WHERE incident_id = $1 AND seq > $2
		ORDER BY seq, id
		LIMIT $3`, incidentID, after, limit)
	if err != nil {
		return nil, fail(fmt.Sprintf("timeline of %s since %d", incidentID, after), err)
	}
	events, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fail(fmt.Sprintf("timeline of %s since %d", incidentID, after), err)
	}
	return events, nil
}
