// Package metrics defines the Prometheus metrics of the engine, named as the
// production guide's alert rules expect, on a registry of our own.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/metric"
)

// Registry holds the process's metrics.
type Registry struct {
	reg *prometheus.Registry

	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	notifications *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	limiterErrors prometheus.Counter
	auditFailures prometheus.Counter

	incidents      *prometheus.CounterVec
	responseTime   *prometheus.HistogramVec
	resolutionTime *prometheus.HistogramVec
	slaBreaches    *prometheus.CounterVec
	noOneOnCall    prometheus.Counter
	handoffNotices *prometheus.CounterVec

	// The Temporal SDK's meter and its refusals, made by the first
	// TemporalHandler call and shared by every later one.
	temporalOnce    sync.Once
	temporalMeter   metric.Meter
	temporalDropped prometheus.Counter
}

// New returns a registry with the Go runtime and process collectors and the
// HTTP metrics registered.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total",
		Help: "HTTP requests answered, by method, route template and status code.",
	}, []string{"method", "route", "status"})
	r.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by method and route template.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route"})
	r.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "notifications_sent_total",
		Help: "Page deliveries by channel (push, webhook, log, email, sms, voice, slack) and result (sent, failed, retry). A delivery is counted once, when its outcome is recorded; retry counts transient failures that will be tried again.",
	}, []string{"channel", "result"})
	r.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_rate_limited_total",
		Help: "Requests refused with 429 by the per-credential rate limit, by scope (rest, events_v2).",
	}, []string{"scope"})
	r.limiterErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rate_limiter_fail_open_total",
		Help: "Requests let through unchecked because the rate limiter's Redis could not answer.",
	})
	r.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "audit_write_failures_total",
		Help: "Authenticated writes answered without their audit event, because writing it to Postgres failed.",
	})
	for _, scope := range []string{"rest", "events_v2"} {
		r.rateLimited.WithLabelValues(scope)
	}
	r.incidents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "incidents_total",
		Help: "Incidents opened, by severity and service.",
	}, []string{"severity", "service"})
	r.responseTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "incident_response_time_seconds",
		Help:    "Time from an incident opening to its acknowledgement.",
		Buckets: []float64{30, 60, 300, 600, 1800, 3600},
	}, []string{"severity"})
	r.resolutionTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "incident_resolution_time_seconds",
		Help:    "Time from an incident opening to its resolution.",
		Buckets: []float64{300, 900, 1800, 3600, 14400, 86400},
	}, []string{"severity"})
	r.slaBreaches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sla_breaches_total",
		Help: "SLA targets missed, by severity and sla_type (response, resolution).",
	}, []string{"severity", "sla_type"})
	r.noOneOnCall = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "no_one_on_call_total",
		Help: "Pages that reached nobody through a schedule they target: nobody was on call in it at the moment of the page, or it could not be read. Each is a no_one_on_call timeline event naming the schedule.",
	})
	r.handoffNotices = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "handoff_notices_sent_total",
		Help: "Handoff notice deliveries (a shift is about to start) by channel (push, webhook, log) and result (sent, failed).",
	}, []string{"channel", "result"})
	// Counters that alerts take increase() of start at zero, so the first
	// breach or failure is an increase too.
	for _, sev := range []string{"critical", "high", "medium", "low", "info"} {
		for _, typ := range []string{"response", "resolution"} {
			r.slaBreaches.WithLabelValues(sev, typ)
		}
	}
	for _, ch := range []string{"push", "webhook", "log", "email", "sms", "voice", "slack"} {
		for _, res := range []string{"sent", "failed"} {
			r.notifications.WithLabelValues(ch, res)
		}
	}
	r.reg.MustRegister(
		r.incidents, r.responseTime, r.resolutionTime, r.slaBreaches,
		r.notifications, r.noOneOnCall, r.handoffNotices,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.httpRequests,
		r.httpDuration,
		r.rateLimited,
		r.limiterErrors,
		r.auditFailures,
	)
	return r
}

// Registerer lets other packages add their own collectors.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }

// Handler serves the registry in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Notified counts one delivery outcome. A nil registry counts nothing.
func (r *Registry) Notified(channel, result string) {
	if r == nil {
		return
	}
	r.notifications.WithLabelValues(channel, result).Inc()
}

// The incident facts below are counted by the worker when it first records
// them in Postgres, so a retried activity never counts one twice. A nil
// registry counts nothing.

// IncidentOpened counts one incident.
func (r *Registry) IncidentOpened(severity, service string) {
	if r != nil {
		r.incidents.WithLabelValues(severity, service).Inc()
	}
}

// Responded observes the time from open to acknowledgement.
func (r *Registry) Responded(severity string, d time.Duration) {
	if r != nil {
		r.responseTime.WithLabelValues(severity).Observe(d.Seconds())
	}
}

// Resolved observes the time from open to resolution.
func (r *Registry) Resolved(severity string, d time.Duration) {
	if r != nil {
		r.resolutionTime.WithLabelValues(severity).Observe(d.Seconds())
	}
}

// SLABreached counts one missed target.
func (r *Registry) SLABreached(severity, slaType string) {
	if r != nil {
		r.slaBreaches.WithLabelValues(severity, slaType).Inc()
	}
}

// NoOneOnCall counts one page that reached nobody through a schedule.
func (r *Registry) NoOneOnCall() {
	if r != nil {
		r.noOneOnCall.Inc()
	}
}

// HandoffNotified counts one handoff notice delivery outcome.
func (r *Registry) HandoffNotified(channel, result string) {
	if r != nil {
		r.handoffNotices.WithLabelValues(channel, result).Inc()
	}
}

// Counter reads a number the process does not hold itself, such as a count
// of rows in Postgres.
type Counter func(ctx context.Context) (int64, error)

// Gauges registers gauges read from Postgres on each scrape, so they are
// right after any restart and agree across processes: active_incidents
// (the production guide's autoscaling metric) and incidents_response_overdue.
// A read that fails or takes over two seconds reports the last value.
func (r *Registry) Gauges(active, overdue Counter) {
	r.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "active_incidents",
			Help: "Incidents not yet resolved.",
		}, cached(active)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "incidents_response_overdue",
			Help: "Open incidents past their response target without a response.",
		}, cached(overdue)),
	)
}

// BackupGauge registers backup_last_success_timestamp_seconds, read from
// Postgres on each scrape like the gauges above: the alert rule
// BackupStale compares it with the time.
func (r *Registry) BackupGauge(lastSuccess Counter) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "backup_last_success_timestamp_seconds",
		Help: "When the latest scheduled backup that was verified finished, in Unix seconds; 0 before the first.",
	}, cached(lastSuccess)))
}

func cached(read Counter) func() float64 {
	var mu sync.Mutex
	var last float64
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if n, err := read(ctx); err == nil {
			last = float64(n)
		}
		return last
	}
}

// ObserveHTTP counts one answered request. route is the route template
// (never the raw path, which would make one series per incident).
func (r *Registry) ObserveHTTP(method, route string, status int, elapsed time.Duration) {
	r.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	r.httpDuration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// CountHTTP counts a request without timing it: a long-lived stream, whose
// duration is how long a browser kept it open.
func (r *Registry) CountHTTP(method, route string, status int) {
	r.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
}

// RateLimited counts one request refused by the rate limit of scope.
func (r *Registry) RateLimited(scope string) {
	if r != nil {
		r.rateLimited.WithLabelValues(scope).Inc()
	}
}

// LimiterFailedOpen counts one request let through because the rate
// limiter could not reach Redis.
func (r *Registry) LimiterFailedOpen() {
	if r != nil {
		r.limiterErrors.Inc()
	}
}

// AuditWriteFailed counts one audit event that could not be written.
func (r *Registry) AuditWriteFailed() {
	if r != nil {
		r.auditFailures.Inc()
	}
}
