package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/ingest"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/workflows"
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
		s.abort(c, errorf(CodeInvalid, err.Error()))
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
		var e *Error
		if errors.As(err, &e) && e.Code == CodeTooLarge {
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
		if errors.Is(err, store.ErrUnauthorized) {
			c.AbortWithStatusJSON(http.StatusBadRequest, ingest.EventsV2Invalid([]string{"'routing_key' is invalid"}))
			return
		}
		s.abort(c, storeErr("authenticate routing key", err))
		return
	}
	if !s.allow(c, "events_v2", "integration_key:"+k.ID, s.eventsLimit) {
		return
	}
	if ev.Action == ingest.ActionTrigger && ev.DedupKey == "" {
		ev.DedupKey = strings.TrimPrefix(newIncidentID(time.Now()), "inc_")
		ev.Fingerprint = ev.DedupKey
	}
	if err := s.deliverAlerts(c.Request.Context(), k.ServiceID, []ingest.Alert{ev.Alert}); err != nil {
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
		s.abort(c, errorf(CodeInvalid, err.Error()))
		return
	}
	if a.DedupKey == "" {
		a.DedupKey = strings.TrimPrefix(newIncidentID(time.Now()), "inc_")
		a.Fingerprint = a.DedupKey
	}
	if err := s.deliverAlerts(c.Request.Context(), service, []ingest.Alert{a}); err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusAccepted, genericAnswer{Status: "accepted", DedupKey: a.DedupKey})
}

// deliverAlerts signals the alerts of one request to the incidents open
// under their dedup keys: one signal per key, however many alerts it holds,
// starting the incident (signal-with-start) when a trigger finds none open.
// It answers once Temporal holds every signal durably; the incidents and
// their timelines follow from there.
func (s *Server) deliverAlerts(ctx context.Context, service string, alerts []ingest.Alert) error {
	ctx, cancel := context.WithTimeout(ctx, s.updateTTL)
	defer cancel()
	var keys []string
	groups := map[string][]workflows.AlertSignal{}
	firstTrigger := map[string]ingest.Alert{}
	for _, a := range alerts {
		if _, seen := groups[a.DedupKey]; !seen {
			keys = append(keys, a.DedupKey)
		}
		groups[a.DedupKey] = append(groups[a.DedupKey], workflows.AlertSignal{
			ID: newIncidentID(time.Now()), Source: a.Source, Action: string(a.Action), Fingerprint: a.Fingerprint,
			Title: a.Title, Description: a.Description, Severity: a.Severity, Labels: a.Labels, URL: a.URL,
			Details: a.Details,
		})
		if _, ok := firstTrigger[a.DedupKey]; !ok && a.Action == ingest.ActionTrigger {
			firstTrigger[a.DedupKey] = a
		}
	}
	var autoResolve *bool
	for _, key := range keys {
		wfID := workflows.DedupWorkflowID(service, key)
		sigs := groups[key]
		first, triggers := firstTrigger[key]
		if !triggers {
			err := s.temporal.SignalWorkflow(ctx, wfID, "", workflows.SignalAlerts, sigs)
			var notFound *serviceerror.NotFound
			if errors.As(err, &notFound) {
				continue // nothing open under this key: nothing to resolve
			}
			if err != nil {
				return fmt.Errorf("signal %s: %w: %w", wfID, errUnavailable, err)
			}
			continue
		}
		if autoResolve == nil {
			ar := true
			if sv, err := s.store.GetService(ctx, service); err == nil {
				ar = sv.ResolvesItself()
			}
			autoResolve = &ar
		}
		// The first trigger's signal ID becomes the new incident's ID.
		var id string
		for _, sig := range sigs {
			if sig.Action == string(ingest.ActionTrigger) {
				id = sig.ID
				break
			}
		}
		_, err := s.temporal.SignalWithStartWorkflow(ctx, wfID, workflows.SignalAlerts, sigs, client.StartWorkflowOptions{
			ID:                    wfID,
			TaskQueue:             s.taskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.SearchStatus.ValueSet(string(incident.StatusOpen)),
				workflows.SearchSeverity.ValueSet(string(first.Severity)),
				workflows.SearchService.ValueSet(service),
			),
		}, workflows.IncidentWorkflowName, workflows.IncidentInput{
			Incident: incident.Incident{
				ID: id, WorkflowID: wfID, Title: first.Title, Description: first.Description,
				Service: service, Severity: first.Severity, DedupKey: key,
			},
			AutoResolve: *autoResolve,
		})
		if err != nil {
			return fmt.Errorf("signal-with-start %s: %w: %w", wfID, errUnavailable, err)
		}
	}
	return nil
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
			return nil, errorf(CodeTooLarge, fmt.Sprintf("request body is larger than %d bytes", limit))
		}
		return nil, errorf(CodeInvalid, "request body could not be read")
	}
	return body, nil
}
