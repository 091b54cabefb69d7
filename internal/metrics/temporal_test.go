package metrics

import (
	"maps"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// sdkRootTags are the tags the SDK puts on every metric of a client.
var sdkRootTags = map[string]string{
	"namespace":     "default",
	"client_name":   "temporal_go",
	"worker_type":   "none",
	"workflow_type": "none",
	"activity_type": "none",
	"task_queue":    "none",
}

// series returns the series of the named family whose labels include want,
// failing the test if there is not exactly one.
func series(t *testing.T, r *Registry, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	var found []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
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
	}
	require.Len(t, found, 1, "series %s%v", name, want)
	return found[0]
}

// labelNames returns the label names of the named family's series.
func labelNames(t *testing.T, r *Registry, name string) []string {
	t.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			var names []string
			for _, lp := range mf.GetMetric()[0].GetLabel() {
				names = append(names, lp.GetName())
			}
			return names
		}
	}
	t.Fatalf("no metric family %s", name)
	return nil
}

func dropped(t *testing.T, r *Registry, sdkName, reason string) float64 {
	t.Helper()
	return series(t, r, "temporal_metrics_dropped_total", map[string]string{"metric": sdkName, "reason": reason}).GetCounter().GetValue()
}

func TestTemporalHandlerRecordsSDKMetrics(t *testing.T) {
	t.Parallel()
	r := New()
	root := r.TemporalHandler().WithTags(sdkRootTags)

	rpc := root.WithTags(map[string]string{"operation": "StartWorkflowExecution", "namespace": "incidents"})
	rpc.Counter("temporal_request").Inc(2)
	rpc.Counter("temporal_request").Inc(1)
	rpc.Timer("temporal_request_latency").Record(250 * time.Millisecond)
	rpc.Timer("temporal_request_latency").Record(2 * time.Second)

	worker := root.WithTags(map[string]string{"worker_type": "ActivityWorker", "task_queue": "escalation"})
	worker.Gauge("temporal_worker_task_slots_available").Update(1000)
	worker.Gauge("temporal_worker_task_slots_available").Update(998)

	c := series(t, r, "temporal_request_total", map[string]string{"operation": "StartWorkflowExecution"})
	require.Equal(t, 3.0, c.GetCounter().GetValue())
	require.Equal(t,
		[]string{"activity_type", "client_name", "namespace", "operation", "task_queue", "worker_type", "workflow_type"},
		labelNames(t, r, "temporal_request_total"))
	// A key set again by a later WithTags takes the later value.
	series(t, r, "temporal_request_total", map[string]string{"namespace": "incidents", "client_name": "temporal_go"})

	h := series(t, r, "temporal_request_latency_seconds", map[string]string{"operation": "StartWorkflowExecution"}).GetHistogram()
	require.Equal(t, uint64(2), h.GetSampleCount())
	require.InDelta(t, 2.25, h.GetSampleSum(), 1e-9)
	cumulative := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cumulative[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	require.Equal(t, uint64(0), cumulative[0.1])
	require.Equal(t, uint64(1), cumulative[0.25], "250ms falls in the 0.25s bucket")
	require.Equal(t, uint64(2), cumulative[60])

	g := series(t, r, "temporal_worker_task_slots_available", map[string]string{"worker_type": "ActivityWorker", "task_queue": "escalation"})
	require.Equal(t, 998.0, g.GetGauge().GetValue())
}

func TestTemporalHandlerKeepsNamesThatAlreadyHaveTheirSuffix(t *testing.T) {
	t.Parallel()
	r := New()
	h := r.TemporalHandler()

	h.Counter("temporal_custom_total").Inc(1)
	h.Timer("temporal_custom_seconds").Record(time.Millisecond)

	series(t, r, "temporal_custom_total", nil)
	series(t, r, "temporal_custom_seconds", nil)
}

func TestTemporalHandlerDropsOtherLabelSets(t *testing.T) {
	t.Parallel()
	r := New()
	root := r.TemporalHandler().WithTags(map[string]string{"namespace": "default"})

	root.WithTags(map[string]string{"task_queue": "escalation"}).Counter("temporal_request").Inc(1)
	// Same name, one more label: Prometheus cannot hold both, the first wins.
	other := root.WithTags(map[string]string{"task_queue": "escalation", "operation": "PollActivityTaskQueue"})
	other.Counter("temporal_request").Inc(5)
	other.Counter("temporal_request").Inc(5)
	// Same exposed name as another kind of metric.
	root.WithTags(map[string]string{"task_queue": "escalation"}).Gauge("temporal_request_total").Update(3)

	c := series(t, r, "temporal_request_total", map[string]string{"task_queue": "escalation"})
	require.Equal(t, 1.0, c.GetCounter().GetValue())
	require.Equal(t, []string{"namespace", "task_queue"}, labelNames(t, r, "temporal_request_total"))
	// Each dropped observation counts once, whatever its delta.
	require.Equal(t, 2.0, dropped(t, r, "temporal_request", dropConflict))
	require.Equal(t, 1.0, dropped(t, r, "temporal_request_total", dropConflict))
}

func TestTemporalHandlerDropsInvalidObservations(t *testing.T) {
	t.Parallel()
	r := New()
	h := r.TemporalHandler()

	h.WithTags(map[string]string{"workflow_type": "ok"}).Counter("temporal_workflow_completed").Inc(1)
	h.WithTags(map[string]string{"workflow_type": "\xff"}).Counter("temporal_workflow_completed").Inc(1)
	h.WithTags(map[string]string{"workflow_type": "ok"}).Counter("temporal_workflow_completed").Inc(-1)

	c := series(t, r, "temporal_workflow_completed_total", map[string]string{"workflow_type": "ok"})
	require.Equal(t, 1.0, c.GetCounter().GetValue())
	require.Equal(t, 2.0, dropped(t, r, "temporal_workflow_completed", dropInvalid))
}

func TestTemporalHandlersOnOneRegistryShareSeries(t *testing.T) {
	t.Parallel()
	r := New()
	tags := map[string]string{"namespace": "default"}

	r.TemporalHandler().WithTags(tags).Counter("temporal_worker_start").Inc(1)
	second := r.TemporalHandler()
	second.WithTags(tags).Counter("temporal_worker_start").Inc(1)
	// The first handler fixed the labels, so the second one drops others.
	second.WithTags(map[string]string{"task_queue": "escalation"}).Counter("temporal_worker_start").Inc(1)

	c := series(t, r, "temporal_worker_start_total", tags)
	require.Equal(t, 2.0, c.GetCounter().GetValue())
	require.Equal(t, 1.0, dropped(t, r, "temporal_worker_start", dropConflict))
}

func TestTemporalHandlerIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	r := New()
	root := r.TemporalHandler().WithTags(sdkRootTags)
	queues := []string{"escalation", "notification", "ack"}
	const perGoroutine = 200

	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			tags := maps.Clone(sdkRootTags)
			tags["task_queue"] = queues[i%len(queues)]
			h := root.WithTags(tags)
			for range perGoroutine {
				h.Counter("temporal_activity_poll_no_task").Inc(1)
				h.Timer("temporal_activity_execution_latency").Record(10 * time.Millisecond)
				h.Gauge("temporal_num_pollers").Update(2)
			}
		})
	}
	wg.Wait()

	for _, q := range queues {
		want := map[string]string{"task_queue": q}
		require.Equal(t, 4.0*perGoroutine, series(t, r, "temporal_activity_poll_no_task_total", want).GetCounter().GetValue())
		require.Equal(t, uint64(4*perGoroutine), series(t, r, "temporal_activity_execution_latency_seconds", want).GetHistogram().GetSampleCount())
		require.Equal(t, 2.0, series(t, r, "temporal_num_pollers", want).GetGauge().GetValue())
	}
}
