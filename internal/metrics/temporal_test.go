package metrics

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

func greet(_ context.Context, name string) (string, error) { return "hello " + name, nil }

// greetWorkflow runs one local activity: the SDK's test environment runs
// local activities through the worker's own task handler, which records the
// temporal_local_activity_* metrics through the client's MetricsHandler.
func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute})
	var out string
	err := workflow.ExecuteLocalActivity(ctx, greet, name).Get(ctx, &out)
	return out, err
}

// runGreetWorkflow runs greetWorkflow to completion with the SDK's metrics
// going to r through a handler of its own.
func runGreetWorkflow(t *testing.T, r *Registry) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	s.SetMetricsHandler(r.TemporalHandler())
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(greet)
	env.ExecuteWorkflow(greetWorkflow, "alice")
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
}

// scrape reads /metrics as Prometheus would: over HTTP, in the text format.
func scrape(t *testing.T, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "a scrape that cannot gather answers 500")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return families
}

// series returns the one series of family name whose labels include want.
func series(t *testing.T, families map[string]*dto.MetricFamily, name string, typ dto.MetricType, want map[string]string) *dto.Metric {
	t.Helper()
	mf, ok := families[name]
	require.True(t, ok, "no metric family %s", name)
	require.Equal(t, typ, mf.GetType(), "type of %s", name)
	var found []*dto.Metric
	for _, m := range mf.GetMetric() {
		labels := labelsOf(m)
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			found = append(found, m)
		}
	}
	require.Len(t, found, 1, "series %s%v", name, want)
	return found[0]
}

func labelsOf(m *dto.Metric) map[string]string {
	labels := map[string]string{}
	for _, lp := range m.GetLabel() {
		labels[lp.GetName()] = lp.GetValue()
	}
	return labels
}

func TestSDKMetricsOfAWorkflowRunAppearOnMetrics(t *testing.T) {
	t.Parallel()
	r := New()
	runGreetWorkflow(t, r)
	families := scrape(t, r)

	tags := map[string]string{"workflow_type": "greetWorkflow", "activity_type": "greet"}
	// An SDK counter: temporal_local_activity, monotonic, with _total.
	c := series(t, families, "temporal_local_activity_total", dto.MetricType_COUNTER, tags)
	require.Equal(t, 1.0, c.GetCounter().GetValue())
	// An SDK timer: a histogram in seconds, on buckets made for seconds.
	h := series(t, families, "temporal_local_activity_execution_latency_seconds", dto.MetricType_HISTOGRAM, tags).GetHistogram()
	require.Equal(t, uint64(1), h.GetSampleCount())
	var bounds []float64
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	require.Equal(t, append(slices.Clone(temporalLatencyBuckets), math.Inf(1)), bounds)
	series(t, families, "temporal_local_activity_succeed_endtoend_latency_seconds", dto.MetricType_HISTOGRAM, tags)

	// The exporter adds nothing of its own: no target_info, no scope info,
	// no otel_* labels on the SDK's series.
	for name, mf := range families {
		require.NotContains(t, []string{"target_info", "otel_scope_info"}, name)
		if !strings.HasPrefix(name, "temporal_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for label := range labelsOf(m) {
				require.False(t, strings.HasPrefix(label, "otel_"), "%s has label %s", name, label)
			}
		}
	}
	d := series(t, families, "temporal_metrics_dropped_total", dto.MetricType_COUNTER, nil)
	require.Zero(t, d.GetCounter().GetValue())
	// The registry's own metrics are still served beside the SDK's.
	series(t, families, "rate_limiter_fail_open_total", dto.MetricType_COUNTER, nil)
}

func TestTemporalHandlersOnOneRegistryShareSeries(t *testing.T) {
	t.Parallel()
	r := New()
	// Two clients of one process (say the API's and the worker's) each
	// take a handler: their observations add up in one series, and the
	// scrape does not fail on duplicates.
	runGreetWorkflow(t, r)
	runGreetWorkflow(t, r)
	families := scrape(t, r)

	c := series(t, families, "temporal_local_activity_total", dto.MetricType_COUNTER,
		map[string]string{"workflow_type": "greetWorkflow", "activity_type": "greet"})
	require.Equal(t, 2.0, c.GetCounter().GetValue())
}

func TestTemporalGaugesAndTagSets(t *testing.T) {
	t.Parallel()
	r := New()
	root := r.TemporalHandler().WithTags(map[string]string{"namespace": "default", "client_name": "temporal_go"})

	// A gauge keeps its name and its last value.
	pollers := root.WithTags(map[string]string{"task_queue": "escalation", "poller_type": "workflow_task"}).Gauge("temporal_num_pollers")
	pollers.Update(2)
	pollers.Update(5)
	// The SDK tags one name with different key sets at different call
	// sites: every set is kept, none is dropped. A later WithTags value
	// wins over an earlier one for the same key.
	root.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(3)
	root.WithTags(map[string]string{"operation": "PollActivityTaskQueue", "task_queue": "escalation"}).Counter("temporal_request").Inc(1)
	root.WithTags(map[string]string{"namespace": "incidents", "operation": "SignalWorkflowExecution"}).Counter("temporal_request").Inc(1)

	families := scrape(t, r)
	g := series(t, families, "temporal_num_pollers", dto.MetricType_GAUGE, map[string]string{"task_queue": "escalation"})
	require.Equal(t, 5.0, g.GetGauge().GetValue())

	c := series(t, families, "temporal_request_total", dto.MetricType_COUNTER, map[string]string{"operation": "StartWorkflowExecution"})
	require.Equal(t, 3.0, c.GetCounter().GetValue())
	require.Equal(t, map[string]string{"namespace": "default", "client_name": "temporal_go", "operation": "StartWorkflowExecution"}, labelsOf(c))
	c = series(t, families, "temporal_request_total", dto.MetricType_COUNTER, map[string]string{"operation": "PollActivityTaskQueue"})
	require.Equal(t, "escalation", labelsOf(c)["task_queue"])
	series(t, families, "temporal_request_total", dto.MetricType_COUNTER, map[string]string{"namespace": "incidents"})
}
