package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
)

// heartbeatRoutes registers heartbeat monitors and the endpoint their jobs
// ping. A monitor is a row in Postgres and a workflow in Temporal
// (heartbeat/<id>) that keeps its deadline: create starts the workflow,
// delete cancels it, and every ping is a signal that starts it again if it
// was ever lost.
func (s *Server) heartbeatRoutes(v1 *gin.RouterGroup) {
	v1.POST("/heartbeat-monitors", s.asAdmin, s.createHeartbeatMonitor)
	v1.GET("/heartbeat-monitors", s.asViewer, s.listHeartbeatMonitors)
	v1.GET("/heartbeat-monitors/:id", s.asViewer, s.getHeartbeatMonitor)
	v1.DELETE("/heartbeat-monitors/:id", s.asAdmin, s.deleteHeartbeatMonitor)
	v1.POST("/heartbeats/:id", s.heartbeatPing)
}

// heartbeatMonitorRequest is the create body: {"service_id", "name",
// "interval": "5m"}.
type heartbeatMonitorRequest struct {
	ServiceID string          `json:"service_id"`
	Name      string          `json:"name"`
	Interval  oncall.Duration `json:"interval"`
}

// createHeartbeatMonitor stores the monitor, then starts its workflow, whose
// first deadline is one interval from now. If the workflow cannot be
// started the row is removed again and the answer is 503, so a retried
// create never leaves a monitor that nothing watches.
func (s *Server) createHeartbeatMonitor(c *gin.Context) {
	var req heartbeatMonitorRequest
	if err := s.decode(c, &req); err != nil {
		s.abort(c, err)
		return
	}
	m, err := s.store.CreateHeartbeatMonitor(c.Request.Context(), store.HeartbeatMonitor{
		ServiceID: req.ServiceID, Name: req.Name, Interval: req.Interval,
	})
	if err != nil {
		s.abort(c, err)
		return
	}
	if err := s.engine.StartHeartbeat(c.Request.Context(), heartbeatInput(m)); err != nil {
		// The start may have reached Temporal before the error did: stop
		// it too, best effort, along with the row.
		undo := context.WithoutCancel(c.Request.Context())
		if derr := s.store.DeleteHeartbeatMonitor(undo, m.ID); derr != nil {
			s.log.WarnContext(undo, "undo heartbeat monitor", "request_id", requestID(c), "monitor_id", m.ID, "error", derr)
		}
		_ = s.engine.StopHeartbeat(undo, m.ID)
		s.abort(c, err)
		return
	}
	auditTarget(c, m.ID)
	auditAfter(c, m)
	c.Header("Location", "/api/v1/heartbeat-monitors/"+url.PathEscape(m.ID))
	c.JSON(http.StatusCreated, m)
}

func (s *Server) listHeartbeatMonitors(c *gin.Context) {
	ms, err := s.store.ListHeartbeatMonitors(c.Request.Context())
	if err != nil {
		s.abort(c, err)
		return
	}
	if ms == nil {
		ms = []store.HeartbeatMonitor{}
	}
	c.JSON(http.StatusOK, gin.H{"heartbeat_monitors": ms})
}

func (s *Server) getHeartbeatMonitor(c *gin.Context) {
	m, err := s.store.GetHeartbeatMonitor(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

// deleteHeartbeatMonitor cancels the monitor's workflow, then deletes the
// row: if the cancel fails nothing has changed and the DELETE can be
// retried. An incident the monitor opened stays open for a person to
// resolve.
func (s *Server) deleteHeartbeatMonitor(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	m, err := s.store.GetHeartbeatMonitor(ctx, id)
	if err != nil {
		s.abort(c, err)
		return
	}
	auditBefore(c, m)
	if err := s.engine.StopHeartbeat(ctx, id); err != nil {
		s.abort(c, err)
		return
	}
	if err := s.store.DeleteHeartbeatMonitor(ctx, id); err != nil {
		s.abort(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// stopServiceHeartbeats cancels the workflows of a service's heartbeat
// monitors before the service goes: deleting it deletes their rows, and a
// workflow whose monitor is gone would otherwise wait for ever. A failure
// answers 503 and leaves the service, so the DELETE can be retried.
func (s *Server) stopServiceHeartbeats(ctx context.Context, serviceID string) error {
	monitors, err := s.store.ListHeartbeatMonitors(ctx)
	if err != nil {
		return err
	}
	for _, m := range monitors {
		if m.ServiceID != serviceID {
			continue
		}
		if err := s.engine.StopHeartbeat(ctx, m.ID); err != nil {
			return err
		}
	}
	return nil
}

// heartbeatPing records a ping from a job: one write to Postgres, which
// the monitor's workflow reads at its deadline. It authenticates with an
// integration key of the monitor's service; a key of another service gets
// 404, as for a monitor that does not exist, so keys cannot probe other
// services' monitors.
//
// A ping that follows an overdue one (the monitor may be down: this ping
// ends the outage) or is the monitor's first is also signalled to the
// workflow, starting it if it was lost, so the outage resolves at once.
// That signal is best effort: the workflow also finds the ping in the store
// within one interval.
func (s *Server) heartbeatPing(c *gin.Context) {
	service, ok := s.integrationService(c, bearer(c))
	if !ok {
		return
	}
	ctx := c.Request.Context()
	now := time.Now().UTC()
	m, previous, err := s.store.PingHeartbeat(ctx, c.Param("id"), service, now)
	if err != nil {
		s.abort(c, err)
		return
	}
	if previous == nil || previous.Add(m.Interval.D()).Before(now.Add(pingSignalMargin)) {
		if err := s.engine.PingHeartbeat(ctx, heartbeatInput(m), now); err != nil {
			s.log.WarnContext(ctx, "signal heartbeat ping; the monitor's workflow reads it at its next check",
				"request_id", requestID(c), "monitor_id", m.ID, "error", err)
		}
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "ok", "next_due_at": now.Add(m.Interval.D())})
}

// pingSignalMargin counts a ping as following an overdue one when the one
// before it was due this close to now: the workflow's clock and this
// server's may differ a little, and a spare signal costs one workflow task.
const pingSignalMargin = 5 * time.Second

func heartbeatInput(m store.HeartbeatMonitor) contract.HeartbeatInput {
	return contract.HeartbeatInput{MonitorID: m.ID, ServiceID: m.ServiceID, Name: m.Name, Interval: m.Interval.D()}
}
