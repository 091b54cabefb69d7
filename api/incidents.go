package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/workflows"
)

// incidentView is an incident as GET /incidents/{id} shows it: the
// projection plus, while it is active, what its workflow holds right now.
type incidentView struct {
	incident.Incident
	Live *workflows.State `json:"live,omitempty"`
}

// openIncident starts an incident's workflow, or joins the open incident
// with the same service and dedup key, in one update-with-start call. The
// answer comes once the incident is recorded, so it can be read back at once.
// With an Idempotency-Key header a retried request (after a 503 or a lost
// answer) gets the first answer back instead of opening a second incident.
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
	id := newIncidentID(time.Now())
	wfID := workflows.IncidentWorkflowID(id)
	updateID := "open/" + id
	switch {
	case in.DedupKey != "":
		wfID = workflows.DedupWorkflowID(in.Service, in.DedupKey)
	case key != "":
		wfID = workflows.RequestWorkflowID(principal(c).RateKey(), in.Service, key)
	}
	if key != "" {
		// A retry sends the same update again; Temporal answers it with
		// the first outcome instead of running it twice.
		updateID = "open/" + strings.TrimPrefix(workflows.RequestWorkflowID(principal(c).RateKey(), in.Service, key), "incident-request/")
	}
	start := s.temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       wfID,
		TaskQueue:                s.taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchStatus.ValueSet(string(incident.StatusOpen)),
			workflows.SearchSeverity.ValueSet(string(in.Severity)),
			workflows.SearchService.ValueSet(in.Service),
		),
	}, workflows.IncidentWorkflowName, workflows.IncidentInput{Incident: incident.Incident{
		ID:          id,
		WorkflowID:  wfID,
		Title:       in.Title,
		Description: in.Description,
		Service:     in.Service,
		Severity:    in.Severity,
		DedupKey:    in.DedupKey,
	}})
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.updateTTL)
	defer cancel()
	handle, err := s.temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     updateID,
			UpdateName:   workflows.UpdateOpen,
			Args:         []any{workflows.OpenRequest{IncidentID: id, Actor: actorOf(c, "")}},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		s.abort(c, fmt.Errorf("open incident: %w", err))
		return
	}
	var res workflows.OpenResult
	if err := handle.Get(ctx, &res); err != nil {
		s.abort(c, fmt.Errorf("open incident: %w", err))
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	c.Header("Location", "/api/v1/incidents/"+res.Incident.ID)
	c.JSON(status, res.Incident)
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
		s.abort(c, errorf(CodeInvalid, "status: must be one of open, acknowledged, mitigated, resolved"))
		return
	}
	if f.Severity != "" && !f.Severity.Valid() {
		s.abort(c, errorf(CodeInvalid, "severity: must be one of critical, high, medium, low, info"))
		return
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			s.abort(c, errorf(CodeInvalid, "limit: must be a whole number from 1 to 200"))
			return
		}
		f.Limit = n
	}
	items, next, err := s.store.ListIncidents(c.Request.Context(), f)
	if err != nil {
		s.abort(c, storeErr("list incidents", err))
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
// projection is answered without it when the workflow cannot be reached.
func (s *Server) live(ctx context.Context, inc incident.Incident) *workflows.State {
	ctx, cancel := context.WithTimeout(ctx, s.readyTTL)
	defer cancel()
	v, err := s.temporal.QueryWorkflow(ctx, inc.WorkflowID, "", workflows.QueryState)
	if err != nil {
		s.log.WarnContext(ctx, "query incident workflow", "incident_id", inc.ID, "workflow_id", inc.WorkflowID, "error", err)
		return nil
	}
	var st workflows.State
	if err := v.Get(&st); err != nil || st.Incident.ID != inc.ID {
		// The dedup workflow ID has moved on to a newer incident.
		return nil
	}
	return &st
}

type timelineResponse struct {
	IncidentID string           `json:"incident_id"`
	Events     []incident.Event `json:"events"`
}

func (s *Server) timeline(c *gin.Context) {
	id := c.Param("id")
	limit := 0
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.abort(c, errorf(CodeInvalid, "limit: must be a whole number from 1 to 1000"))
			return
		}
		limit = n
	}
	events, err := s.store.Timeline(c.Request.Context(), id, limit)
	if err != nil {
		s.abort(c, storeErr("read timeline", err))
		return
	}
	if events == nil {
		events = []incident.Event{}
	}
	c.JSON(http.StatusOK, timelineResponse{IncidentID: id, Events: events})
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
	if !s.bindCommand(c, &body, &body.Actor, &body.Note) {
		return
	}
	if strings.TrimSpace(body.Note) == "" {
		s.abort(c, errorf(CodeInvalid, "note: is required"))
		return
	}
	inc, key, ok := s.commandTarget(c)
	if !ok {
		return
	}
	if !inc.Status.Active() {
		s.abort(c, errorf(CodeConflict, "incident is resolved; notes are taken while it is active"))
		return
	}
	var ev incident.Event
	arg := workflows.NoteRequest{IncidentID: inc.ID, Actor: body.Actor, Note: body.Note}
	if err := s.update(c, inc, workflows.UpdateNote, key, arg, &ev); err != nil {
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
		incident.ActionAcknowledge: workflows.UpdateAcknowledge,
		incident.ActionMitigate:    workflows.UpdateMitigate,
		incident.ActionResolve:     workflows.UpdateResolve,
	}[action]
	target, _ := action.Target()
	return func(c *gin.Context) {
		var body transitionBody
		if !s.bindCommand(c, &body, &body.Actor, &body.Note) {
			return
		}
		inc, key, ok := s.commandTarget(c)
		if !ok {
			return
		}
		if inc.Status == incident.StatusResolved && key == "" {
			s.abort(c, incident.CanTransition(inc.Status, target))
			return
		}
		var out incident.Incident
		arg := workflows.TransitionRequest{IncidentID: inc.ID, Actor: body.Actor, Note: body.Note}
		if err := s.update(c, inc, update, key, arg, &out); err != nil {
			s.abort(c, err)
			return
		}
		c.JSON(http.StatusOK, out)
	}
}

// bindCommand decodes a responder's command into body, replaces the actor
// it names (optional) with the one the timeline records (see actorOf), and
// checks it and the note; note may be nil. It answers the request itself
// and returns false when the body is unusable.
func (s *Server) bindCommand(c *gin.Context, body any, actor, note *string) bool {
	if err := s.decode(c, body); err != nil {
		s.abort(c, err)
		return false
	}
	*actor = actorOf(c, *actor)
	n := ""
	if note != nil {
		n = *note
	}
	if err := incident.ValidateActor(*actor, n); err != nil {
		s.abort(c, err)
		return false
	}
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
		return "", errorf(CodeInvalid, "Idempotency-Key: is longer than 255 characters")
	}
	return key, nil
}

// update sends one update to an incident's workflow and waits for its
// answer, at most updateTTL. idemKey, when set, becomes the update ID, so a
// retried request gets the first answer back.
func (s *Server) update(c *gin.Context, inc incident.Incident, name, idemKey string, arg, out any) error {
	updateID := ""
	if idemKey != "" {
		updateID = name + "/" + idemKey
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.updateTTL)
	defer cancel()
	handle, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   inc.WorkflowID,
		UpdateID:     updateID,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return fmt.Errorf("%s incident: %w", name, err)
	}
	if err := handle.Get(ctx, out); err != nil {
		return fmt.Errorf("%s incident: %w", name, err)
	}
	return nil
}

// lookup finds an incident in the cache, then in Postgres. A cache failure
// only costs the Postgres read.
func (s *Server) lookup(ctx context.Context, id string) (incident.Incident, error) {
	if id == "" || len(id) > 64 {
		return incident.Incident{}, errorf(CodeNotFound, "incident not found")
	}
	if s.cache != nil {
		inc, ok, err := s.cache.GetIncident(ctx, id)
		if err != nil {
			s.log.WarnContext(ctx, "cache read failed; reading Postgres", "incident_id", id, "error", err)
		} else if ok {
			return inc, nil
		}
	}
	inc, err := s.store.GetIncident(ctx, id)
	if err != nil {
		return incident.Incident{}, storeErr("read incident", err)
	}
	return inc, nil
}

// storeErr passes through the store's client-facing errors and marks every
// other failure as the database being unavailable, so callers retry.
func storeErr(op string, err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidCursor) {
		return err
	}
	return fmt.Errorf("%s: %w: %w", op, errUnavailable, err)
}

// decode reads a JSON body strictly: the right media type, at most
// maxBody bytes, one object, no unknown fields.
func (s *Server) decode(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errorf(CodeUnsupportedMedia, "Content-Type must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(CodeTooLarge, fmt.Sprintf("request body is larger than %d bytes", s.maxBody))
		}
		return errorf(CodeInvalid, "request body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(CodeInvalid, jsonMessage(err))
	}
	if dec.More() {
		return errorf(CodeInvalid, "request body must hold a single JSON object")
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

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newIncidentID returns "inc_" and 26 characters: 48 bits of milliseconds
// then 80 random bits, so IDs sort by creation time and never collide in
// practice.
func newIncidentID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return "inc_" + idEncoding.EncodeToString(b[:])
}

func joinSorted(names []string) string {
	slices.Sort(names)
	return strings.Join(names, ", ")
}
