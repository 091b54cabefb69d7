package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
)

// AuditEvent is one authenticated write to the REST API: who sent it, with
// which credential, to which route and object, and how it was answered.
type AuditEvent struct {
	ID int64 `json:"id"`
	// At is when the request arrived, in UTC.
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	// CredentialKind is "user" (a token) or "api_key"; CredentialID the
	// token's subject or the API key's ID.
	CredentialKind string `json:"credential_kind"`
	CredentialID   string `json:"credential_id"`
	Method         string `json:"method"`
	// Route is the route template, "/api/v1/users/:id"; Path what was
	// requested.
	Route string `json:"route"`
	Path  string `json:"path"`
	// Target is the object written: the route's :key_id or :id, or the ID
	// of the object a POST created. Empty when there is none.
	Target    string `json:"target,omitempty"`
	Status    int    `json:"status"`
	RequestID string `json:"request_id,omitempty"`
	// Summary holds, for configuration writes, {"before": …, "after": …}:
	// the object as the API shows it, secrets redacted. Empty otherwise.
	Summary json.RawMessage `json:"summary,omitempty"`
}

// MaxAuditSummary bounds an event's summary in bytes; RecordAudit refuses
// a longer one, so the caller bounds what it records.
const MaxAuditSummary = 32 << 10

// RecordAudit appends e (its ID is assigned, and returned in the copy).
// At defaults to now. A summary that is not a JSON object or is longer than
// MaxAuditSummary is an error of code fault.Invalid.
func (s *Store) RecordAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	var summary *string
	if len(e.Summary) == 0 {
		e.Summary = nil
	} else {
		if len(e.Summary) > MaxAuditSummary {
			return AuditEvent{}, fmt.Errorf("record audit: %w", fault.InvalidField("summary",
				fmt.Sprintf("is %d bytes, at most %d are kept", len(e.Summary), MaxAuditSummary)))
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(e.Summary, &obj); err != nil {
			return AuditEvent{}, fmt.Errorf("record audit: %w", fault.InvalidField("summary", "is not a JSON object"))
		}
		v := string(e.Summary)
		summary = &v
	}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO audit_events (at, actor, credential_kind, credential_id, method, route, path, target, status, request_id, summary)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)
		RETURNING id`,
		e.At, e.Actor, e.CredentialKind, e.CredentialID, e.Method, e.Route, e.Path, e.Target, e.Status, e.RequestID, summary,
	).Scan(&e.ID)
	if err != nil {
		return AuditEvent{}, fail("record audit", err)
	}
	return e, nil
}

// AuditFilter selects audit events. Empty fields match everything.
type AuditFilter struct {
	// Actor, Route (the template) and Target match exactly.
	Actor  string
	Route  string
	Target string
	// From and To bound At: From <= At < To.
	From, To time.Time
	// Limit is the page size: DefaultListLimit when zero or negative, at
	// most MaxListLimit.
	Limit int
	// Cursor is the next value of a previous page; empty for the first page.
	Cursor string
}

const auditColumns = `id, at, actor, credential_kind, credential_id, method, route, path, target, status, request_id, summary`

// ListAudit returns one page of audit events matching f, newest first (by
// At, then ID), and the cursor of the next page, empty on the last page.
// Pages are stable under new events. An undecodable cursor gives an error
// of code fault.Invalid.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, string, error) {
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
	for _, m := range [][2]string{{"actor", f.Actor}, {"route", f.Route}, {"target", f.Target}} {
		if m[1] != "" {
			where = append(where, m[0]+" = "+arg(m[1]))
		}
	}
	if !f.From.IsZero() {
		where = append(where, "at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "at < "+arg(f.To))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", fail("list audit events", err)
		}
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, "", fail("list audit events", invalidCursor(err))
		}
		where = append(where, "(at, id) < ("+arg(at)+", "+arg(n)+")")
	}
	q := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ` + arg(limit+1)
	items, err := queryAll(ctx, s, "list audit events", scanAudit, q, args...)
	if err != nil {
		return nil, "", err
	}
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	last := items[limit-1]
	return items, encodeCursor(last.At, strconv.FormatInt(last.ID, 10)), nil
}

func scanAudit(row pgx.CollectableRow) (AuditEvent, error) {
	var e AuditEvent
	var summary []byte
	if err := row.Scan(&e.ID, &e.At, &e.Actor, &e.CredentialKind, &e.CredentialID, &e.Method, &e.Route,
		&e.Path, &e.Target, &e.Status, &e.RequestID, &summary); err != nil {
		return AuditEvent{}, err
	}
	e.At = e.At.UTC()
	if len(summary) > 0 {
		e.Summary = json.RawMessage(summary)
	}
	return e, nil
}

// auditPurgeBatch bounds the rows one statement of PurgeAudit deletes, so a
// first purge of a large table holds no long lock and no huge transaction.
const auditPurgeBatch = 10000

// PurgeAudit deletes the audit events older than cutoff and returns how
// many it deleted. Idempotent.
func (s *Store) PurgeAudit(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM audit_events WHERE id IN
			(SELECT id FROM audit_events WHERE at < $1 LIMIT $2)`, cutoff, auditPurgeBatch)
		if err != nil {
			return total, fail("purge audit events", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < auditPurgeBatch {
			return total, nil
		}
	}
}
