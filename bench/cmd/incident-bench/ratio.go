package main

import "fmt"

// The combined table reads each engine figure against the ceiling measured
// beside it in the same run: a rate as a share of the ceiling's rate, a
// latency as a multiple of the ceiling's p50.

// Kinds of headlines that have a ceiling, besides the scenarios' level
// measures ("open", "acknowledge", "post" and the ceilings' own).
const (
	kindAlerts         = "alerts"
	kindCostOpen       = "cost-open"
	kindOpenToFirstPag = "open → first page (step 1 claim)"
)

// ceilingRef names a ceiling and how a figure compares with it.
type ceilingRef struct {
	Measure string  `json:"measure"`
	Value   float64 `json:"value"`
	// Unit is "/s" (Ratio is the figure's share of the ceiling's rate) or
	// "ms" (Ratio is the figure's p50 over the ceiling's p50).
	Unit  string  `json:"unit"`
	Ratio float64 `json:"ratio"`
}

// String renders the ceiling for the table: "empty-workflow start c8 54/s".
func (c *ceilingRef) String() string {
	if c.Unit == "/s" {
		return fmt.Sprintf("%s %.0f/s", c.Measure, c.Value)
	}
	return fmt.Sprintf("%s p50 %.1f ms", c.Measure, c.Value)
}

// RatioString renders the comparison: "23.5 %" of a rate, "4.1×" a latency.
func (c *ceilingRef) RatioString() string {
	if c.Unit == "/s" {
		return fmt.Sprintf("%.1f %%", 100*c.Ratio)
	}
	return fmt.Sprintf("%.1f×", c.Ratio)
}

// attachCeilings sets Ceiling on every headline that has one among hs.
// Levels above the highest ceiling level read against the highest (32
// clients against 8 connections or starters).
//
//   - open, cost open: an open is answered once the new workflow's first
//     task has run on a worker (update-with-start), so its rate reads
//     against empty workflows started and run to completion (one task) at
//     the same concurrency: the like-for-like ceiling, not bare starts;
//   - acknowledge, open → first page: one update or one start that has to
//     run on a worker, so the latency reads against empty-workflow
//     start→complete;
//   - posts: one signal-with-start per post, against workflow starts;
//   - alerts: one Postgres row per alert, against single-row INSERTs.
func attachCeilings(hs []headline) {
	find := func(kind string, conc int) *headline {
		var best *headline
		for i := range hs {
			h := &hs[i]
			if h.Scenario != scenarioCeilings || h.Kind != kind || h.Count == 0 {
				continue
			}
			// The level equal to conc, else the highest below it, else the lowest.
			switch {
			case best == nil:
				best = h
			case h.Concurrency <= conc && (best.Concurrency > conc || h.Concurrency > best.Concurrency):
				best = h
			case h.Concurrency > conc && best.Concurrency > conc && h.Concurrency < best.Concurrency:
				best = h
			}
		}
		return best
	}
	rate := func(h *headline, kind string, conc int) {
		c := find(kind, conc)
		if c == nil || c.PerSecond <= 0 || h.PerSecond <= 0 {
			return
		}
		h.Ceiling = &ceilingRef{Measure: fmt.Sprintf("%s c%d", kind, c.Concurrency), Value: c.PerSecond, Unit: "/s", Ratio: h.PerSecond / c.PerSecond}
	}
	latency := func(h *headline, kind string, conc int) {
		c := find(kind, conc)
		if c == nil || c.LatencyMs.Count == 0 || c.LatencyMs.P50 <= 0 || h.LatencyMs.Count == 0 {
			return
		}
		h.Ceiling = &ceilingRef{Measure: fmt.Sprintf("%s c%d", kind, c.Concurrency), Value: c.LatencyMs.P50, Unit: "ms", Ratio: h.LatencyMs.P50 / c.LatencyMs.P50}
	}
	for i := range hs {
		h := &hs[i]
		switch {
		case h.Scenario == scenarioOpen && h.Kind == "open":
			rate(h, measureWorkflowRun, h.Concurrency)
		case h.Scenario == scenarioOpen && h.Kind == "acknowledge":
			latency(h, measureWorkflowRun, h.Concurrency)
		case h.Kind == kindOpenToFirstPag:
			latency(h, measureWorkflowRun, 1)
		case h.Scenario == scenarioAlert && h.Kind == "post":
			rate(h, measureWorkflowStart, h.Concurrency)
		case h.Scenario == scenarioAlert && h.Kind == kindAlerts:
			rate(h, measurePGInsert, h.Concurrency)
		case h.Kind == kindCostOpen:
			rate(h, measureWorkflowRun, maxConcurrency)
		}
	}
}
