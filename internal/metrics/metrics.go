// Package metrics defines the Prometheus metrics of the engine, named as the
// production guide's alert rules expect, on a registry of our own.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds the process's metrics.
type Registry struct {
	reg *prometheus.Registry

	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	notifications *prometheus.CounterVec
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
		Help: "Page deliveries by channel (push, webhook, log) and result (sent, failed, retry). A delivery is counted once, when its outcome is recorded; retry counts transient failures that will be tried again.",
	}, []string{"channel", "result"})
	r.reg.MustRegister(
		r.notifications,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.httpRequests,
		r.httpDuration,
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

// ObserveHTTP counts one answered request. route is the route template
// (never the raw path, which would make one series per incident).
func (r *Registry) ObserveHTTP(method, route string, status int, elapsed time.Duration) {
	r.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	r.httpDuration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}
