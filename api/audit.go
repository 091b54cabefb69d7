package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/secret"
	"github.com/incident-server/incident-server/internal/store"
)

// The audit trail. Every request that a credential authenticated and that
// is not a GET is recorded in audit_events once it has been answered: who
// (actor and credential), what (method, route, path, target), how it
// ended (status, refusals by role included) and its request ID; writes to
// configuration add the object before and after, as the API shows it.
//
// Not recorded: requests without a valid credential (401: nobody to name,
// and an unauthenticated flood must not cost a write each), requests the
// rate limit refused (429, counted in http_rate_limited_total, for the
// same reason), and the ingestion endpoints (integration keys), whose
// alerts and pings land in the incidents' alerts and timelines.
//
// Recording is best effort: it runs after the answer was decided, and a
// failed write is logged with the whole event and counted in
// audit_write_failures_total, never turned into an error. The change it
// describes is already committed; answering 5xx for it would have clients
// retry writes that succeeded (a POST would create twice).

// auditNoteKey holds the *auditNote a handler fills for the audit event.
const auditNoteKey = "audit_note"

// auditNote is what a handler adds to its audit event.
type auditNote struct {
	target        string
	before, after any
}

func noteOf(c *gin.Context) *auditNote {
	if v, ok := c.Get(auditNoteKey); ok {
		return v.(*auditNote)
	}
	n := &auditNote{}
	c.Set(auditNoteKey, n)
	return n
}

// auditTarget names the object a request wrote, for routes whose
// parameters do not (a POST that creates it).
func auditTarget(c *gin.Context, id string) { noteOf(c).target = id }

// auditBefore and auditAfter record a configuration object as it was and
// as it is, in the form the API answers with (secrets redacted).
func auditBefore(c *gin.Context, v any) { noteOf(c).before = v }
func auditAfter(c *gin.Context, v any)  { noteOf(c).after = v }

// maxAuditSide bounds the JSON of "before" and of "after": past it the
// side is replaced by {"truncated": true, "bytes": N}. Configuration
// objects are far smaller; a user with many contact methods comes close.
const maxAuditSide = 12 << 10

// auditWriteTimeout bounds the audit write, which outlives a caller that
// has gone away.
const auditWriteTimeout = 5 * time.Second

// audited reports whether a request is recorded: every method but GET
// (and HEAD, which gin answers as GET).
func audited(c *gin.Context) bool {
	return c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead
}

// recordAudit writes the audit event of an answered request.
func (s *Server) recordAudit(c *gin.Context, p auth.Principal, at time.Time) {
	if !audited(c) {
		return
	}
	target := c.Param("key_id")
	if target == "" {
		target = c.Param("id")
	}
	var summary json.RawMessage
	if v, ok := c.Get(auditNoteKey); ok {
		n := v.(*auditNote)
		if n.target != "" {
			target = n.target
		}
		summary = auditSummary(n)
	}
	e := store.AuditEvent{
		At: at, Actor: p.Actor(), CredentialKind: string(p.Kind), CredentialID: p.CredentialID(),
		Method: c.Request.Method, Route: c.FullPath(), Path: c.Request.URL.Path, Target: target,
		Status: c.Writer.Status(), RequestID: requestID(c), Summary: summary,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), auditWriteTimeout)
	defer cancel()
	if _, err := s.store.RecordAudit(ctx, e); err != nil {
		s.metrics.AuditWriteFailed()
		s.log.ErrorContext(ctx, "audit event not recorded", "error", err,
			"actor", e.Actor, "credential", e.CredentialKind, "credential_id", e.CredentialID, "method", e.Method,
			"route", e.Route, "path", e.Path, "target", e.Target, "status", e.Status, "request_id", e.RequestID,
			"summary", string(e.Summary))
	}
}

// auditSummary is {"before": …, "after": …} with the sides the handler
// noted, or nil when it noted neither.
func auditSummary(n *auditNote) json.RawMessage {
	sides := map[string]any{}
	if n.before != nil {
		sides["before"] = auditSide(n.before)
	}
	if n.after != nil {
		sides["after"] = auditSide(n.after)
	}
	if len(sides) == 0 {
		return nil
	}
	raw, err := json.Marshal(sides)
	if err != nil {
		return nil
	}
	return raw
}

// auditSide is v as JSON with secrets scrubbed, bounded in size.
func auditSide(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return map[string]any{"unrecorded": err.Error()}
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return map[string]any{"unrecorded": err.Error()}
	}
	tree = scrub(tree)
	if out, err := json.Marshal(tree); err != nil || len(out) > maxAuditSide {
		return map[string]any{"truncated": true, "bytes": len(raw)}
	}
	return tree
}

// scrub redacts, at any depth, what must not be stored in the trail even
// if a handler noted it: URLs (a webhook's path is its credential) and
// fields that name a secret. The objects noted are already the API's
// answers, which redact them; this is the second line.
func scrub(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			switch k {
			case "url":
				if s, ok := x.(string); ok {
					t[k] = secret.Redact(s)
				}
			case "key", "secret", "password", "signing_secret", "jwt_secret":
				t[k] = "…"
			default:
				t[k] = scrub(x)
			}
		}
	case []any:
		for i, x := range t {
			t[i] = scrub(x)
		}
	}
	return v
}

// auditRoutes registers the audit trail's read side, for admins.
func (s *Server) auditRoutes(v1 *gin.RouterGroup) {
	v1.GET("/audit", s.asAdmin, s.listAudit)
}

type auditList struct {
	AuditEvents []store.AuditEvent `json:"audit_events"`
	NextCursor  string             `json:"next_cursor,omitempty"`
}

// listAudit answers one page of audit events, newest first, filtered by
// actor, route (template), target and a time range [from, to), RFC 3339.
func (s *Server) listAudit(c *gin.Context) {
	f := store.AuditFilter{
		Actor:  c.Query("actor"),
		Route:  c.Query("route"),
		Target: c.Query("target"),
		Cursor: c.Query("cursor"),
	}
	for _, q := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		name, dst := q.name, q.dst
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				s.abort(c, fault.InvalidField(name, "must be an RFC 3339 time, such as 2026-03-01T12:00:00Z"))
				return
			}
			*dst = t
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		s.abort(c, fault.InvalidField("to", "must be after from"))
		return
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxListLimit {
			s.abort(c, fault.InvalidField("limit", "must be a whole number from 1 to 200"))
			return
		}
		f.Limit = n
	}
	items, next, err := s.store.ListAudit(c.Request.Context(), f)
	if err != nil {
		s.abort(c, err)
		return
	}
	if items == nil {
		items = []store.AuditEvent{}
	}
	c.JSON(http.StatusOK, auditList{AuditEvents: items, NextCursor: next})
}
