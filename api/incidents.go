package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/engine"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
)

// incidentView is an incident as GET /incidents/{id} shows it: the
// projection plus, while it is active, what its workflow holds right now.
type incidentView struct {
	incident.Incident
	Live *contract.State `json:"live,omitempty"`
}

// openIncident opens an incident, or joins the open incident with the same
// service and dedup key (engine.Client.Open): 201 for a new incident, 200
// for one joined. With an Idempotency-Key header a retried request (after a
// 503 or a lost answer) gets the first answer back instead of opening a
// second incident.
func (s *Server) openIncident(c *gin.Context) {
	var in incident.NewIncident
	if err := s.decode(c, &in); err != nil {
		s.abort(c, err)
		return
	}
	in.Normalize()
	if err := in.Validate(); err != nil {
		s.abort(c, err)
		return
	}
	key, err := idempotencyKey(c)
	if err != nil {
		s.abort(c, err)
		return
	}
	req := engine.OpenRequest{NewIncident: in, Actor: actorOf(c, ""), Caller: principal(c).RateKey(), IdempotencyKey: key}
	if in.DedupKey != "" {
		if inc, opener, ok := s.joinOpen(c, req); ok {
			status := http.StatusOK
			if opener {
				status = http.StatusCreated
			}
			c.Header("Location", "/api/v1/incidents/"+inc.ID)
			c.JSON(status, inc)
			return
		}
	}
	res, err := s.engine.Open(c.Request.Context(), req)
	if err != nil {
		s.abort(c, err)
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	auditTarget(c, res.Incident.ID)
	c.Header("Location", "/api/v1/incidents/"+res.Incident.ID)
	c.JSON(status, res.Incident)
}

// joinOpen joins the incident open under req's dedup key, when the
// projection shows one: a signal, not an update, so a storm of opens with
// one key does not queue behind the workflow's few updates in flight. A
// retry of the keyed request that opened the incident (its first answer
// lost, or a 503) joins nothing: opener is true, and it is answered as the
// first attempt would have been. It reports false (the caller opens
// through the workflow) when none is open, a lookup fails, or the workflow
// has closed meanwhile.
func (s *Server) joinOpen(c *gin.Context, req engine.OpenRequest) (inc incident.Incident, opener, ok bool) {
	ctx := c.Request.Context()
	inc, ok, err := s.store.OpenIncidentOf(ctx, contract.DedupWorkflowID(req.Service, req.DedupKey))
	if err != nil || !ok {
		return incident.Incident{}, false, false
	}
	if req.IdempotencyKey != "" {
		opener, err := s.store.OpenedByRequest(ctx, inc.ID, contract.OpenRequestKey(req.Caller, req.Service, req.IdempotencyKey))
		if err != nil {
			return incident.Incident{}, false, false
		}
		if opener {
			return inc, true, true
		}
	}
	if err := s.engine.Join(ctx, inc, req); err != nil {
		s.log.WarnContext(ctx, "join open incident; opening through its workflow", "request_id", requestID(c),
			"incident_id", inc.ID, "error", err)
		return incident.Incident{}, false, false
	}
	return inc, false, true
}

type listResponse struct {
	Incidents  []incident.Incident `json:"incidents"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

func (s *Server) listIncidents(c *gin.Context) {
	f := store.ListFilter{
		Status:   incident.Status(c.Query("status")),
		Severity: incident.Severity(c.Query("severity")),
		Service:  c.Query("service"),
		Cursor:   c.Query("cursor"),
	}
	if f.Status != "" && !f.Status.Valid() {
		s.abort(c, fault.InvalidField("status", "must be one of open, acknowledged, mitigated, resolved"))
		return
	}
	if f.Severity != "" && !f.Severity.Valid() {
		s.abort(c, fault.InvalidField("severity", "must be one of critical, high, medium, low, info"))
		return
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			s.abort(c, fault.InvalidField("limit", "must be a whole number from 1 to 200"))
			return
		}
		f.Limit = n
	}
	items, next, err := s.store.ListIncidents(c.Request.Context(), f)
	if err != nil {
		s.abort(c, err)
		return
	}
	if items == nil {
		items = []incident.Incident{}
	}
	c.JSON(http.StatusOK, listResponse{Incidents: items, NextCursor: next})
}

func (s *Server) getIncident(c *gin.Context) {
	inc, err := s.lookup(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.abort(c, err)
		return
	}
	view := incidentView{Incident: inc}
	if inc.Status.Active() {
		view.Live = s.live(c.Request.Context(), inc)
	}
	c.JSON(http.StatusOK, view)
}

// live asks the incident's workflow for its state. It is best effort: the
// projection is answered without it when the workflow cannot be reached,
// has closed, or has moved on to a newer incident under its dedup key.
func (s *Server) live(ctx context.Context, inc incident.Incident) *contract.State {
	st, ok, err := s.engine.State(ctx, inc, s.readyTTL)
	if err != nil {
		s.log.WarnContext(ctx, "query incident workflow", "incident_id", inc.ID, "workflow_id", inc.WorkflowID, "error", err)
		return nil
	}
	if !ok {
		return nil
	}
	return &st
}

type timelineResponse struct {
	IncidentID string           `json:"incident_id"`
	Events     []incident.Event `json:"events"`
	// NextAfter, with after given and a full page, is the after of the
	// next page.
	NextAfter *int64 `json:"next_after,omitempty"`
}

// timeline answers an incident's events, oldest first, at most limit
// (default and most 1000). With after (a sequence number, 0 for the
// start) it answers the events after it in sequence order, and next_after
// when there may be more: a timeline longer than one page is read page by
// page.
func (s *Server) timeline(c *gin.Context) {
	id := c.Param("id")
	limit := store.MaxTimelineLimit
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxTimelineLimit {
			s.abort(c, fault.InvalidField("limit", fmt.Sprintf("must be a whole number from 1 to %d", store.MaxTimelineLimit)))
			return
		}
		limit = n
	}
	var (
		events []incident.Event
		err    error
		paged  = c.Query("after") != ""
	)
	if paged {
		after, perr := strconv.ParseInt(c.Query("after"), 10, 64)
		if perr != nil || after < 0 {
			s.abort(c, fault.InvalidField("after", "must be a sequence number, 0 or more"))
			return
		}
		events, err = s.store.TimelineAfter(c.Request.Context(), id, after, limit)
	} else {
		events, err = s.store.Timeline(c.Request.Context(), id, limit)
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	if events == nil {
		events = []incident.Event{}
	}
	out := timelineResponse{IncidentID: id, Events: events}
	if paged && len(events) == limit {
		next := events[len(events)-1].Seq
		out.NextAfter = &next
	}
	c.JSON(http.StatusOK, out)
}

// transitionBody is the body of acknowledge, mitigate and resolve. Actor is
// optional: the credential names the caller (see actorOf).
type transitionBody struct {
	Actor string `json:"actor,omitempty"`
	Note  string `json:"note,omitempty"`
}

// noteBody is the body of POST /incidents/{id}/notes.
type noteBody struct {
	Actor string `json:"actor,omitempty"`
	Note  string `json:"note"`
}

// addNote adds a note to an active incident's timeline, in order with
// everything else that happens to it. It answers 201 with the event.
func (s *Server) addNote(c *gin.Context) {
	var body noteBody
	if !s.bindCommand(c, &body, &body.Actor) {
		return
	}
	req := contract.NoteRequest{Actor: body.Actor, Note: body.Note}
	if err := req.Validate(); err != nil {
		s.abort(c, err)
		return
	}
	inc, key, ok := s.commandTarget(c)
	if !ok {
		return
	}
	if !inc.Status.Active() {
		s.abort(c, fault.Conflictf("incident is resolved; notes are taken while it is active"))
		return
	}
	req.IncidentID = inc.ID
	var ev incident.Event
	if err := s.engine.Command(c.Request.Context(), inc, contract.UpdateNote, key, req, &ev); err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusCreated, ev)
}

// transition sends acknowledge, mitigate or resolve to the incident's
// workflow and answers with the incident as the workflow left it. An
// Idempotency-Key header makes a retried request return the first answer.
func (s *Server) transition(action incident.Action) gin.HandlerFunc {
	update := map[incident.Action]string{
		incident.ActionAcknowledge: contract.UpdateAcknowledge,
		incident.ActionMitigate:    contract.UpdateMitigate,
		incident.ActionResolve:     contract.UpdateResolve,
	}[action]
	target, _ := action.Target()
	return func(c *gin.Context) {
		var body transitionBody
		if !s.bindCommand(c, &body, &body.Actor) {
			return
		}
		req := contract.TransitionRequest{Actor: body.Actor, Note: body.Note}
		if err := req.Validate(); err != nil {
			s.abort(c, err)
			return
		}
		inc, key, ok := s.commandTarget(c)
		if !ok {
			return
		}
		// A move the incident's recorded status forbids is answered here,
		// without a round trip to its workflow, unless it is the retry of
		// the keyed request that made the move (which gets its first
		// answer back from the workflow).
		if err := incident.CanTransition(inc.Status, target); err != nil && !s.retryOf(c, inc, update, key) {
			s.abort(c, err)
			return
		}
		req.IncidentID = inc.ID
		var out incident.Incident
		if err := s.engine.Command(c.Request.Context(), inc, update, key, req, &out); err != nil {
			s.abort(c, err)
			return
		}
		c.JSON(http.StatusOK, out)
	}
}

// retryOf reports whether the command update sent with Idempotency-Key key
// has already taken effect on inc (a timeline event names it), or may have:
// a failed lookup sends the command on to the workflow, which knows.
func (s *Server) retryOf(c *gin.Context, inc incident.Incident, update, key string) bool {
	if key == "" {
		return false
	}
	done, err := s.store.RecordedRequest(c.Request.Context(), inc.ID, contract.CommandUpdateID(update, key))
	return done || err != nil
}

// bindCommand decodes a responder's command into body and replaces the
// actor it names (optional) with the one the timeline records (see
// actorOf). The caller validates the command it builds from body, with the
// same rules the workflow applies. It answers the request itself and
// returns false when the body is unusable.
func (s *Server) bindCommand(c *gin.Context, body any, actor *string) bool {
	if err := s.decode(c, body); err != nil {
		s.abort(c, err)
		return false
	}
	*actor = actorOf(c, *actor)
	return true
}

// commandTarget reads the Idempotency-Key header and finds the incident a
// command names. It answers the request itself and returns false when
// either fails.
func (s *Server) commandTarget(c *gin.Context) (incident.Incident, string, bool) {
	key, err := idempotencyKey(c)
	if err != nil {
		s.abort(c, err)
		return incident.Incident{}, "", false
	}
	inc, err := s.lookup(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.abort(c, err)
		return incident.Incident{}, "", false
	}
	return inc, key, true
}

// idempotencyKey returns the request's Idempotency-Key header, if any.
func idempotencyKey(c *gin.Context) (string, error) {
	key := c.GetHeader("Idempotency-Key")
	if len(key) > 255 {
		return "", fault.InvalidField("Idempotency-Key", "is longer than 255 characters")
	}
	return key, nil
}

// lookup finds an incident in the cache, then in Postgres. A cache failure
// only costs the Postgres read.
func (s *Server) lookup(ctx context.Context, id string) (incident.Incident, error) {
	if id == "" || len(id) > 64 {
		return incident.Incident{}, fault.Missing("incident")
	}
	if s.cache != nil {
		inc, ok, err := s.cache.GetIncident(ctx, id)
		if err != nil {
			s.log.WarnContext(ctx, "cache read failed; reading Postgres", "incident_id", id, "error", err)
		} else if ok {
			return inc, nil
		}
	}
	return s.store.GetIncident(ctx, id)
}

// decode reads a JSON body strictly: the right media type, at most
// maxBody bytes, one object, no unknown fields.
func (s *Server) decode(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return fault.New(fault.UnsupportedMedia, "Content-Type must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fault.Newf(fault.TooLarge, "request body is larger than %d bytes", s.maxBody)
		}
		return fault.New(fault.Invalid, "request body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fault.New(fault.Invalid, jsonMessage(err))
	}
	if dec.More() {
		return fault.New(fault.Invalid, "request body must hold a single JSON object")
	}
	return nil
}

func jsonMessage(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "request body is empty; a JSON object is required"
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("%s: must be a %s", typ.Field, typ.Type.String())
		}
		return "request body must be a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	}
	return "malformed JSON"
}

func joinSorted(names []string) string {
	slices.Sort(names)
	return strings.Join(names, ", ")
}
