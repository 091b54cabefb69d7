package metrics

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// temporalLatencyBuckets span what the SDK times: RPCs and task execution
// from a millisecond up, long polls and schedule-to-start delays up to a
// minute. Slower observations land in +Inf.
var temporalLatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Reasons an SDK observation is counted in temporal_metrics_dropped_total
// instead of being recorded.
const (
	// dropConflict: the name is already registered with another label set or
	// as another kind of metric.
	dropConflict = "conflict"
	// dropInvalid: a tag value Prometheus rejects (not UTF-8) or a negative
	// counter increment.
	dropInvalid = "invalid"
)

// TemporalHandler returns a handler for client.Options.MetricsHandler that
// records the Temporal SDK's client and worker metrics in r.
//
// SDK counters are exposed with a _total suffix (temporal_request becomes
// temporal_request_total), timers as histograms in seconds with a _seconds
// suffix (temporal_request_latency_seconds), gauges under their own name.
// Tags become labels.
//
// Prometheus allows one label set per name, while the SDK attaches tags per
// call site, so a name's labels are fixed by the first observation of it: an
// observation of the same name with other tag keys, or as another kind of
// metric, is not recorded but counted in
// temporal_metrics_dropped_total{metric="<SDK name>",reason="conflict"}.
// Padding missing labels with "" would need every name's label union up
// front, which the SDK does not declare. In practice each SDK metric is
// emitted with one key set: the client's root tags (namespace, client_name,
// worker_type, workflow_type, activity_type, task_queue, "none" when not
// applicable) plus fixed per-metric extras (operation, status_code, cause,
// poller_type, failure_reason, nexus_service, nexus_operation), so a
// non-zero drop count means an SDK upgrade changed a metric's tags, or two
// clients on this registry disagree on DisableErrorCodeMetricTags (which
// removes status_code from the *_failure counters).
//
// Handlers from several calls on one registry share the registered
// collectors, so two clients report into the same series. It panics if
// temporal_metrics_dropped_total is already registered as something else, a
// wiring mistake as for New's own metrics.
func (r *Registry) TemporalHandler() client.MetricsHandler {
	dropped, err := registerShared(r.reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "temporal_metrics_dropped_total",
		Help: "Temporal SDK observations not recorded, by SDK metric name and reason: conflict (the name is registered with other labels or as another kind) or invalid (a non-UTF-8 tag value or a negative counter increment).",
	}, []string{"metric", "reason"}))
	if err != nil {
		panic(fmt.Sprintf("register temporal_metrics_dropped_total: %v", err))
	}
	return &temporalHandler{m: &temporalMetrics{
		reg:      r.reg,
		dropped:  dropped,
		families: make(map[string]*temporalFamily),
	}}
}

// registerShared registers c, or returns the equal collector registered
// before it (same name, labels and help), so callers can share it.
func registerShared[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

type temporalKind int

const (
	temporalCounter temporalKind = iota
	temporalGauge
	temporalTimer
)

// temporalFamily is one exposed metric name: the kind and sorted label names
// it was first observed with, and its collector. A family the registry
// refused has no collector and drops everything.
type temporalFamily struct {
	kind   temporalKind
	labels []string

	counter   *prometheus.CounterVec
	gauge     *prometheus.GaugeVec
	histogram *prometheus.HistogramVec
}

// temporalMetrics is the state shared by a handler and everything derived
// from it with WithTags.
type temporalMetrics struct {
	reg     prometheus.Registerer
	dropped *prometheus.CounterVec

	mu       sync.RWMutex
	families map[string]*temporalFamily // by exposed name
}

// family returns the family for the exposed name, registering it with labels
// on first use, or the drop reason if an observation of kind with labels
// cannot be recorded under that name.
func (m *temporalMetrics) family(exposed, sdkName string, kind temporalKind, labels []string) (*temporalFamily, string) {
	m.mu.RLock()
	f, ok := m.families[exposed]
	m.mu.RUnlock()
	if !ok {
		m.mu.Lock()
		f, ok = m.families[exposed]
		if !ok {
			f = m.register(exposed, sdkName, kind, labels)
			m.families[exposed] = f
		}
		m.mu.Unlock()
	}
	if f.kind != kind || !slices.Equal(f.labels, labels) {
		return nil, dropConflict
	}
	if f.counter == nil && f.gauge == nil && f.histogram == nil {
		return nil, dropConflict
	}
	return f, ""
}

func (m *temporalMetrics) register(exposed, sdkName string, kind temporalKind, labels []string) *temporalFamily {
	f := &temporalFamily{kind: kind, labels: labels}
	var err error
	switch kind {
	case temporalCounter:
		f.counter, err = registerShared(m.reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: exposed,
			Help: "Temporal SDK counter " + sdkName + ".",
		}, labels))
	case temporalGauge:
		f.gauge, err = registerShared(m.reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: exposed,
			Help: "Temporal SDK gauge " + sdkName + ".",
		}, labels))
	case temporalTimer:
		f.histogram, err = registerShared(m.reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    exposed,
			Help:    "Temporal SDK timer " + sdkName + ", in seconds.",
			Buckets: temporalLatencyBuckets,
		}, labels))
	}
	if err != nil {
		// Another collector owns the name (another handler registered it
		// with other labels, or it is not ours): remember the refusal so
		// later observations drop without asking the registry again.
		return &temporalFamily{kind: kind, labels: labels}
	}
	return f
}

func (m *temporalMetrics) drop(sdkName, reason string) droppedMetric {
	return droppedMetric{m.dropped.WithLabelValues(sdkName, reason)}
}

// temporalHandler implements client.MetricsHandler. keys are its tag keys,
// sorted, and values the matching tag values, ready to be label values.
type temporalHandler struct {
	m      *temporalMetrics
	tags   map[string]string
	keys   []string
	values []string
}

// WithTags returns a handler with tags added to h's, a key present in both
// taking the value from tags, as the SDK's interface requires.
func (h *temporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	maps.Copy(merged, h.tags)
	maps.Copy(merged, tags)
	keys := slices.Sorted(maps.Keys(merged))
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = merged[k]
	}
	return &temporalHandler{m: h.m, tags: merged, keys: keys, values: values}
}

func (h *temporalHandler) Counter(name string) client.MetricsCounter {
	exposed := name
	if !strings.HasSuffix(exposed, "_total") {
		exposed += "_total"
	}
	f, reason := h.m.family(exposed, name, temporalCounter, h.keys)
	if reason != "" {
		return h.m.drop(name, reason)
	}
	c, err := f.counter.GetMetricWithLabelValues(h.values...)
	if err != nil {
		return h.m.drop(name, dropInvalid)
	}
	return temporalCounterMetric{c: c, m: h.m, name: name}
}

func (h *temporalHandler) Gauge(name string) client.MetricsGauge {
	f, reason := h.m.family(name, name, temporalGauge, h.keys)
	if reason != "" {
		return h.m.drop(name, reason)
	}
	g, err := f.gauge.GetMetricWithLabelValues(h.values...)
	if err != nil {
		return h.m.drop(name, dropInvalid)
	}
	return temporalGaugeMetric{g}
}

func (h *temporalHandler) Timer(name string) client.MetricsTimer {
	exposed := name
	if !strings.HasSuffix(exposed, "_seconds") {
		exposed += "_seconds"
	}
	f, reason := h.m.family(exposed, name, temporalTimer, h.keys)
	if reason != "" {
		return h.m.drop(name, reason)
	}
	o, err := f.histogram.GetMetricWithLabelValues(h.values...)
	if err != nil {
		return h.m.drop(name, dropInvalid)
	}
	return temporalTimerMetric{o}
}

type temporalCounterMetric struct {
	c    prometheus.Counter
	m    *temporalMetrics
	name string
}

// Inc drops a negative delta, which a Prometheus counter cannot take and
// which would otherwise panic inside the SDK.
func (c temporalCounterMetric) Inc(delta int64) {
	if delta < 0 {
		c.m.drop(c.name, dropInvalid).Inc(delta)
		return
	}
	c.c.Add(float64(delta))
}

type temporalGaugeMetric struct{ g prometheus.Gauge }

func (g temporalGaugeMetric) Update(v float64) { g.g.Set(v) }

type temporalTimerMetric struct{ o prometheus.Observer }

func (t temporalTimerMetric) Record(d time.Duration) { t.o.Observe(d.Seconds()) }

// droppedMetric stands in for a counter, gauge or timer that cannot be
// recorded, counting each observation as one drop.
type droppedMetric struct{ c prometheus.Counter }

func (d droppedMetric) Inc(int64)            { d.c.Inc() }
func (d droppedMetric) Update(float64)       { d.c.Inc() }
func (d droppedMetric) Record(time.Duration) { d.c.Inc() }
