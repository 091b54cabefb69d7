package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// samples sorted in ascending order: the smallest sample with at least p%
// of all samples at or below it. It is always one of the samples, never an
// interpolation, so a reported p99 is a latency that really happened.
// It returns 0 for no samples.
func percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case p <= 0:
		return sorted[0]
	case p >= 100:
		return sorted[n-1]
	}
	// p*n before dividing keeps whole-number ranks exact (95*200/100 is
	// exactly 190, whereas 0.95*200 is not).
	rank := int(math.Ceil(p * float64(n) / 100))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// stats summarizes one measure, in the unit its samples were given in.
type stats struct {
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// summarize computes stats over samples without reordering them.
func summarize(samples []float64) stats {
	if len(samples) == 0 {
		return stats{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	return stats{
		Count: len(s),
		Min:   s[0],
		Mean:  sum / float64(len(s)),
		P50:   percentile(s, 50),
		P95:   percentile(s, 95),
		P99:   percentile(s, 99),
		Max:   s[len(s)-1],
	}
}

// ms converts a duration to fractional milliseconds, the unit every result
// is reported in.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
