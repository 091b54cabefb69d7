package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/ingest"
)

// maxEventsV2Body is PagerDuty's Events API v2 limit. The Alertmanager
// limit is configurable (server.alertmanager_max_body_bytes): its groups
// can be large.
const maxEventsV2Body = 512 << 10

func (s *Server) ingestRoutes(r *gin.Engine, v1 *gin.RouterGroup) {
	v1.POST("/integrations/alertmanager", s.alertmanager)
	v1.POST("/integrations/events-v2", s.eventsV2)
	r.POST("/v2/enqueue", s.eventsV2)
	v1.POST("/integrations/generic", s.genericAlert)
}

// alertmanager receives Alertmanager's webhook. Alertmanager retries only
// on 5xx, so a failure a retry can cure answers 503 and a 4xx is kept for
// payloads that can never succeed. It never answers 429: a storm is folded
// into one incident by its group key, not refused.
func (s *Server) alertmanager(c *gin.Context) {
	service, ok := s.integrationService(c, bearer(c))
	if !ok {
		return
	}
	body, err := readBody(c, s.amMaxBody)
	if err != nil {
		s.abort(c, err)
		return
	}
	batch, err := ingest.DecodeAlertmanager(body)
	if err != nil {
		s.abort(c, err)
		return
	}
	if err := s.deliverAlerts(c.Request.Context(), service, batch.Alerts); err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "accepted", "alerts": len(batch.Alerts)})
}

// eventsV2 speaks PagerDuty's Events API v2: the routing key is an
// integration key of ours, and answers take PagerDuty's shapes, so senders
// built for PagerDuty switch by changing only the URL.
func (s *Server) eventsV2(c *gin.Context) {
	body, err := readBody(c, maxEventsV2Body)
	if err != nil {
		if fault.Is(err, fault.TooLarge) {
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, ingest.EventsV2Invalid([]string{"Event object is larger than 512 KB"}))
			return
		}
		c.AbortWithStatusJSON(http.StatusBadRequest, ingest.EventsV2Unrecognized())
		return
	}
	ev, problems, err := ingest.DecodeEventsV2(body)
	switch {
	case err != nil:
		c.AbortWithStatusJSON(http.StatusBadRequest, ingest.EventsV2Unrecognized())
		return
	case len(problems) > 0:
		c.AbortWithStatusJSON(http.StatusBadRequest, ingest.EventsV2Invalid(problems))
		return
	}
	k, err := s.store.AuthenticateIntegrationKey(c.Request.Context(), ev.RoutingKey)
	if err != nil {
		if fault.Is(err, fault.Unauthorized) {
			c.AbortWithStatusJSON(http.StatusBadRequest, ingest.EventsV2Invalid([]string{"'routing_key' is invalid"}))
			return
		}
		s.abort(c, err)
		return
	}
	if !s.allow(c, "events_v2", "integration_key:"+k.ID, s.eventsLimit) {
		return
	}
	if ev.Action == incident.AlertTrigger && ev.DedupKey == "" {
		ev.DedupKey = strings.TrimPrefix(incident.NewID(time.Now()), "inc_")
		ev.Fingerprint = ev.DedupKey
	}
	if err := s.deliverAlerts(c.Request.Context(), k.ServiceID, []incident.Alert{ev.Alert}); err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusAccepted, ingest.EventsV2Accepted(ev.DedupKey))
}

type genericAnswer struct {
	Status   string `json:"status"`
	DedupKey string `json:"dedup_key"`
}

// genericAlert takes this engine's own webhook format.
func (s *Server) genericAlert(c *gin.Context) {
	service, ok := s.integrationService(c, bearer(c))
	if !ok {
		return
	}
	body, err := readBody(c, s.maxBody)
	if err != nil {
		s.abort(c, err)
		return
	}
	a, err := ingest.DecodeGeneric(body)
	if err != nil {
		s.abort(c, err)
		return
	}
	if a.DedupKey == "" {
		a.DedupKey = strings.TrimPrefix(incident.NewID(time.Now()), "inc_")
		a.Fingerprint = a.DedupKey
	}
	if err := s.deliverAlerts(c.Request.Context(), service, []incident.Alert{a}); err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusAccepted, genericAnswer{Status: "accepted", DedupKey: a.DedupKey})
}

// deliverAlerts hands the alerts of one request to their incidents
// (engine.Client.DeliverAlerts). An incident that starts resolves itself
// when all its alerts have if its service says so; a service that cannot
// be read resolves itself (the default).
func (s *Server) deliverAlerts(ctx context.Context, service string, alerts []incident.Alert) error {
	return s.engine.DeliverAlerts(ctx, service, alerts, func(ctx context.Context) bool {
		sv, err := s.store.GetService(ctx, service)
		return err != nil || sv.ResolvesItself()
	})
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(c *gin.Context) string {
	h := c.GetHeader("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// readBody reads at most limit bytes of the body.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fault.Newf(fault.TooLarge, "request body is larger than %d bytes", limit)
		}
		return nil, fault.New(fault.Invalid, "request body could not be read")
	}
	return body, nil
}
