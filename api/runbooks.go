package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/runbook"
)

// runbookRoutes registers runbooks (a plain resource: admins change them,
// anyone reads them) and the commands that start them on an incident and
// work their steps. A run's steps are decided on its own workflow (the
// incident's child); the incident records what happens.
func (s *Server) runbookRoutes(v1 *gin.RouterGroup) {
	register(s, v1, resource[runbook.Runbook, *runbook.Runbook]{
		noun:    "runbook",
		path:    "/runbooks",
		listKey: "runbooks",
		id:      func(rb *runbook.Runbook) *string { return &rb.ID },
		create:  s.store.CreateRunbook,
		get:     s.store.GetRunbook,
		list:    s.store.ListRunbooks,
		update:  s.store.UpdateRunbook,
		delete:  s.store.DeleteRunbook,

		prepare: s.prepareRunbook,
	})
	v1.POST("/incidents/:id/runbooks", s.asResponder, s.startRunbook)
	steps := "/incidents/:id/runbooks/:run/steps/:step/"
	v1.POST(steps+"complete", s.asResponder, s.completeStep(false))
	v1.POST(steps+"skip", s.asResponder, s.completeStep(true))
	v1.POST(steps+"approve", s.asResponder, s.decideStep(true))
	v1.POST(steps+"reject", s.asResponder, s.decideStep(false))
}

// prepareRunbook refuses an action URL whose host is an address the
// outbound policy refuses (http://169.254.169.254/…); host names and
// templated hosts are judged when the call dials.
func (s *Server) prepareRunbook(rb *runbook.Runbook, _ *runbook.Runbook) error {
	if s.outbound == nil {
		return nil
	}
	for i, st := range rb.Steps {
		if st.Action == nil || strings.Contains(st.Action.URL, "{{") {
			continue
		}
		if err := s.outbound.CheckURL(st.Action.URL); err != nil {
			msg := err.Error()
			if re, ok := errors.AsType[*outbound.RefusedError](err); ok {
				msg = fmt.Sprintf("points at %s, a %s address, which actions may not reach (outbound.allow lists exceptions)", re.Addr, re.Reason)
			}
			return fault.InvalidField(fmt.Sprintf("steps[%d].action.url", i), msg)
		}
	}
	return nil
}

// startRunbookBody is the body of POST /incidents/{id}/runbooks.
type startRunbookBody struct {
	RunbookID string `json:"runbook_id"`
	Actor     string `json:"actor,omitempty"`
}

// startRunbook starts a runbook on an active incident, from its current
// version, and answers 201 with the run.
func (s *Server) startRunbook(c *gin.Context) {
	var body startRunbookBody
	if !s.bindCommand(c, &body, &body.Actor) {
		return
	}
	if strings.TrimSpace(body.RunbookID) == "" {
		s.abort(c, fault.InvalidField("runbook_id", "is required"))
		return
	}
	inc, key, ok := s.commandTarget(c)
	if !ok {
		return
	}
	if !inc.Status.Active() {
		s.abort(c, fault.Conflictf("incident is resolved"))
		return
	}
	rb, err := s.store.GetRunbook(c.Request.Context(), strings.TrimSpace(body.RunbookID))
	if fault.Is(err, fault.NotFound) {
		s.abort(c, fault.InvalidField("runbook_id", "no such runbook"))
		return
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	req := contract.StartRunbookRequest{IncidentID: inc.ID, Actor: body.Actor, Runbook: rb}
	if err := req.Validate(); err != nil {
		s.abort(c, err)
		return
	}
	var run contract.RunbookRun
	if err := s.engine.Command(c.Request.Context(), inc, contract.UpdateStartRunbook, key, req, &run); err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusCreated, run)
}

// stepBody is the body of the step commands. Actor is optional: the
// credential names the caller (see actorOf).
type stepBody struct {
	Actor string `json:"actor,omitempty"`
	Note  string `json:"note,omitempty"`
}

// stepTarget reads a step command: its body, the incident, the run and
// the step. It answers the request itself and returns false when one of
// them is unusable.
func (s *Server) stepTarget(c *gin.Context, body *stepBody) (target stepRef, ok bool) {
	if !s.bindCommand(c, body, &body.Actor) {
		return target, false
	}
	run, err1 := strconv.Atoi(c.Param("run"))
	step, err2 := strconv.Atoi(c.Param("step"))
	if err1 != nil || err2 != nil || run < 1 || run > contract.MaxRunbookRuns || step < 1 || step > runbook.MaxSteps {
		s.abort(c, fault.Missing("runbook step"))
		return target, false
	}
	inc, key, ok := s.commandTarget(c)
	if !ok {
		return target, false
	}
	if !inc.Status.Active() {
		s.abort(c, fault.Conflictf("incident is resolved; its runbooks were cancelled"))
		return target, false
	}
	return stepRef{incident: inc, run: run, step: step, key: key}, true
}

// completeStep marks the manual step in progress done, or skipped, and
// answers with the run.
func (s *Server) completeStep(skip bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		var body stepBody
		t, ok := s.stepTarget(c, &body)
		if !ok {
			return
		}
		req := contract.StepRequest{IncidentID: t.incident.ID, Step: t.step, Actor: body.Actor, Note: body.Note, Skip: skip}
		if err := req.Validate(); err != nil {
			s.abort(c, err)
			return
		}
		s.runbookCommand(c, t, contract.UpdateCompleteStep, req)
	}
}

// decideStep approves or rejects the approval gate in progress and answers
// with the run. The gate itself checks the caller's role against the one
// it requires (403 when weaker); a rejection needs a note saying why.
func (s *Server) decideStep(approve bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		var body stepBody
		t, ok := s.stepTarget(c, &body)
		if !ok {
			return
		}
		if !approve && strings.TrimSpace(body.Note) == "" {
			s.abort(c, fault.InvalidField("note", "is required: say why the step is rejected"))
			return
		}
		req := contract.ApprovalRequest{IncidentID: t.incident.ID, Step: t.step, Actor: body.Actor,
			Role: oncall.Role(principal(c).Role), Approve: approve, Note: body.Note}
		if err := req.Validate(); err != nil {
			s.abort(c, err)
			return
		}
		s.runbookCommand(c, t, contract.UpdateApproveStep, req)
	}
}

func (s *Server) runbookCommand(c *gin.Context, t stepRef, update string, req any) {
	var run contract.RunbookRun
	if err := s.engine.RunbookCommand(c.Request.Context(), t.incident, t.run, update, t.key, req, &run); err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, run)
}

// stepRef names the step a command is for.
type stepRef struct {
	incident  incident.Incident
	run, step int
	// key is the request's Idempotency-Key, if any.
	key string
}
