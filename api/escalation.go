package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/workflows"
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
	if !s.bindCommand(c, &body, &body.Actor, &body.Note) {
		return
	}
	s.escalationUpdate(c, workflows.UpdateEscalate, func(id string) any {
		return workflows.EscalateRequest{IncidentID: id, Actor: body.Actor, Note: body.Note}
	})
}

// snooze stops paging for a while; paging resumes when it ends.
func (s *Server) snooze(c *gin.Context) {
	var body snoozeBody
	if !s.bindCommand(c, &body, &body.Actor, nil) {
		return
	}
	if d := body.Duration.D(); d < workflows.MinSnooze || d > workflows.MaxSnooze {
		s.abort(c, errorf(CodeInvalid, fmt.Sprintf("duration: must be from %s to %s", workflows.MinSnooze, workflows.MaxSnooze)))
		return
	}
	s.escalationUpdate(c, workflows.UpdateSnooze, func(id string) any {
		return workflows.SnoozeRequest{IncidentID: id, Actor: body.Actor, Duration: body.Duration.D()}
	})
}

// reassign hands the incident to another policy, or to users paged
// together, and pages them now.
func (s *Server) reassign(c *gin.Context) {
	var body reassignBody
	if !s.bindCommand(c, &body, &body.Actor, nil) {
		return
	}
	ctx := c.Request.Context()
	switch {
	case (body.PolicyID == "") == (len(body.UserIDs) == 0):
		s.abort(c, errorf(CodeInvalid, "give either policy_id or user_ids"))
		return
	case len(body.UserIDs) > workflows.MaxUsers:
		s.abort(c, errorf(CodeInvalid, fmt.Sprintf("user_ids: at most %d", workflows.MaxUsers)))
		return
	case body.PolicyID != "":
		if _, err := s.store.GetPolicy(ctx, body.PolicyID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				s.abort(c, errorf(CodeInvalid, "policy_id: no such policy"))
				return
			}
			s.abort(c, storeErr("read policy", err))
			return
		}
	default:
		users, err := s.store.GetUsers(ctx, body.UserIDs)
		if err != nil {
			s.abort(c, storeErr("read users", err))
			return
		}
		for _, id := range body.UserIDs {
			if _, ok := users[id]; !ok {
				s.abort(c, errorf(CodeInvalid, fmt.Sprintf("user_ids: no such user %q", id)))
				return
			}
		}
	}
	s.escalationUpdate(c, workflows.UpdateReassign, func(id string) any {
		return workflows.ReassignRequest{IncidentID: id, Actor: body.Actor, PolicyID: body.PolicyID, UserIDs: body.UserIDs}
	})
}

// escalationUpdate finds the incident, sends it the update built by arg
// and answers with the incident's state, escalation included.
func (s *Server) escalationUpdate(c *gin.Context, name string, arg func(incidentID string) any) {
	inc, key, ok := s.commandTarget(c)
	if !ok {
		return
	}
	if inc.Status == incident.StatusResolved {
		s.abort(c, errorf(CodeConflict, "incident is resolved"))
		return
	}
	var st workflows.State
	if err := s.update(c, inc, name, key, arg(inc.ID), &st); err != nil {
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
		s.abort(c, storeErr("list notifications", err))
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
		s.abort(c, storeErr("list alerts", err))
		return
	}
	if as == nil {
		as = []store.Alert{}
	}
	c.JSON(http.StatusOK, gin.H{"incident_id": inc.ID, "alerts": as})
}
