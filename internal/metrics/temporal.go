package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/opentelemetry"
)

// temporalLatencyBuckets span what the SDK times: RPCs and task execution
// from a millisecond up, long polls and schedule-to-start delays up to a
// minute. Slower observations land in +Inf. OpenTelemetry's default
// buckets are made for milliseconds and would put every SDK timer below 5 s
// in the first bucket.
var temporalLatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// TemporalHandler returns a handler for client.Options.MetricsHandler that
// records the Temporal SDK's client and worker metrics in r, through the
// SDK's OpenTelemetry integration and OpenTelemetry's Prometheus exporter.
//
// SDK counters are exposed with a _total suffix (temporal_request becomes
// temporal_request_total), timers as histograms in seconds with a _seconds
// suffix (temporal_request_latency_seconds, buckets temporalLatencyBuckets),
// gauges under their own name. Tags become labels; a metric may carry
// different label sets, as the SDK tags it. Nothing else is added: no
// target_info, no otel_scope_* series or labels.
//
// Every handler of one registry shares one meter provider, so two clients
// report into the same series. Each metric holds at most 2,000 label sets
// (OpenTelemetry's default cardinality limit); more are folded into one
// series labelled otel_metric_overflow="true". An instrument the meter
// refuses (a name OpenTelemetry does not accept) is not recorded and counts
// in temporal_metrics_dropped_total.
func (r *Registry) TemporalHandler() client.MetricsHandler {
	r.temporalOnce.Do(func() {
		r.temporalMeter, r.temporalDropped = newTemporalMeter(r.reg)
	})
	dropped := r.temporalDropped
	return opentelemetry.NewMetricsHandler(opentelemetry.MetricsHandlerOptions{
		Meter: r.temporalMeter,
		// SDK counters only grow: monotonic, they are Prometheus counters
		// with _total rather than gauges.
		UseMonotonicCounters: true,
		// The default panics inside the SDK.
		OnError: func(error) { dropped.Inc() },
	})
}

// newTemporalMeter returns a meter whose instruments are exported on reg,
// and the counter of instruments it refused. It panics if reg refuses the
// exporter or the counter, a wiring mistake as for New's own metrics.
func newTemporalMeter(reg prometheus.Registerer) (metric.Meter, prometheus.Counter) {
	dropped := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "temporal_metrics_dropped_total",
		Help: "Temporal SDK instruments not recorded because the OpenTelemetry meter refused them; each refused lookup counts once.",
	})
	reg.MustRegister(dropped)
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithoutTargetInfo(),
		otelprom.WithoutScopeInfo(),
	)
	if err != nil {
		panic(fmt.Sprintf("register temporal metrics exporter: %v", err))
	}
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exporter),
		sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter),
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: temporalLatencyBuckets}},
		)),
	)
	return provider.Meter("go.temporal.io/sdk"), dropped
}
