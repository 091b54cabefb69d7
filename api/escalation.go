package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

type escalateBody struct {
	Actor string `json:"actor,omitempty"`
	Note  string `json:"note,omitempty"`
}

type snoozeBody struct {
	Actor    string          `json:"actor,omitempty"`
	Duration oncall.Duration `json:"duration"`
}

type reassignBody struct {
	Actor    string   `json:"actor,omitempty"`
	PolicyID string   `json:"policy_id,omitempty"`
	UserIDs  []string `json:"user_ids,omitempty"`
}

// escalate pages the incident's next escalation step now.
func (s *Server) escalate(c *gin.Context) {
	var body escalateBody
	if !s.bindCommand(c, &body, &body.Actor) {
		return
	}
	req := contract.EscalateRequest{Actor: body.Actor, Note: body.Note}
	s.escalationUpdate(c, contract.UpdateEscalate, req, func(id string) any { req.IncidentID = id; return req })
}

// snooze stops paging for a while; paging resumes when it ends.
func (s *Server) snooze(c *gin.Context) {
	var body snoozeBody
	if !s.bindCommand(c, &body, &body.Actor) {
		return
	}
	req := contract.SnoozeRequest{Actor: body.Actor, Duration: body.Duration.D()}
	s.escalationUpdate(c, contract.UpdateSnooze, req, func(id string) any { req.IncidentID = id; return req })
}

// reassign hands the incident to another policy, or to users paged
// together, and pages them now. The policy or users must exist.
func (s *Server) reassign(c *gin.Context) {
	var body reassignBody
	if !s.bindCommand(c, &body, &body.Actor) {
		return
	}
	req := contract.ReassignRequest{Actor: body.Actor, PolicyID: body.PolicyID, UserIDs: body.UserIDs}
	if err := req.Validate(); err != nil {
		s.abort(c, err)
		return
	}
	if err := s.checkAssignees(c.Request.Context(), req); err != nil {
		s.abort(c, err)
		return
	}
	s.escalationUpdate(c, contract.UpdateReassign, req, func(id string) any { req.IncidentID = id; return req })
}

// checkAssignees answers a reassignment to a policy or users that do not
// exist with 400 before it reaches the workflow.
func (s *Server) checkAssignees(ctx context.Context, req contract.ReassignRequest) error {
	if req.PolicyID != "" {
		_, err := s.store.GetPolicy(ctx, req.PolicyID)
		if fault.Is(err, fault.NotFound) {
			return fault.InvalidField("policy_id", "no such policy")
		}
		return err
	}
	users, err := s.store.GetUsers(ctx, req.UserIDs)
	if err != nil {
		return err
	}
	for _, id := range req.UserIDs {
		if _, ok := users[id]; !ok {
			return fault.InvalidField("user_ids", fmt.Sprintf("no such user %q", id))
		}
	}
	return nil
}

// escalationUpdate checks req with the rules the workflow applies, finds
// the incident, sends it the update (its argument built by withID for the
// incident's ID) and answers with the incident's state, escalation
// included.
func (s *Server) escalationUpdate(c *gin.Context, name string, req interface{ Validate() error }, withID func(incidentID string) any) {
	if err := req.Validate(); err != nil {
		s.abort(c, err)
		return
	}
	inc, key, ok := s.commandTarget(c)
	if !ok {
		return
	}
	if inc.Status == incident.StatusResolved {
		s.abort(c, fault.Conflictf("incident is resolved"))
		return
	}
	var st contract.State
	if err := s.engine.Command(c.Request.Context(), inc, name, key, withID(inc.ID), &st); err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, incidentView{Incident: st.Incident, Live: &st})
}

// notificationView is one delivery of the ledger as the API shows it.
type notificationView struct {
	Step            int       `json:"step"`
	Round           int       `json:"round"`
	Page            int       `json:"page"`
	UserID          string    `json:"user_id"`
	ContactMethodID string    `json:"contact_method_id,omitempty"`
	Channel         string    `json:"channel"`
	Status          string    `json:"status"`
	Detail          string    `json:"detail,omitempty"`
	Attempts        int       `json:"attempts"`
	ClaimedAt       time.Time `json:"claimed_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// notifications lists the incident's deliveries from the ledger, oldest
// first: who was paged, on which contact method, with what outcome.
func (s *Server) notifications(c *gin.Context) {
	ctx := c.Request.Context()
	inc, err := s.lookup(ctx, c.Param("id"))
	if err != nil {
		s.abort(c, err)
		return
	}
	ns, err := s.store.ListNotifications(ctx, inc.ID)
	if err != nil {
		s.abort(c, err)
		return
	}
	out := make([]notificationView, len(ns))
	for i, n := range ns {
		out[i] = notificationView{
			Step: n.Key.Step + 1, Round: n.Key.Round, Page: n.Key.Page, UserID: n.Key.UserID,
			ContactMethodID: n.Key.ContactMethodID, Channel: n.Channel, Status: n.Status, Detail: n.Detail,
			Attempts: n.Attempts, ClaimedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt,
		}
	}
	c.JSON(http.StatusOK, gin.H{"incident_id": inc.ID, "notifications": out})
}

// alerts lists the incident's alerts, one per fingerprint.
func (s *Server) alerts(c *gin.Context) {
	ctx := c.Request.Context()
	inc, err := s.lookup(ctx, c.Param("id"))
	if err != nil {
		s.abort(c, err)
		return
	}
	as, err := s.store.ListAlerts(ctx, inc.ID)
	if err != nil {
		s.abort(c, err)
		return
	}
	out := make([]alertView, len(as))
	for i, a := range as {
		out[i] = alertView{IncidentID: inc.ID, AlertState: a}
	}
	c.JSON(http.StatusOK, gin.H{"incident_id": inc.ID, "alerts": out})
}

// alertView is one alert of an incident as the API shows it.
type alertView struct {
	IncidentID string `json:"incident_id"`
	incident.AlertState
}
