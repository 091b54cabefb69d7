package main

import "testing"

func TestPercentileNearestRank(t *testing.T) {
	sorted := []float64{15, 20, 35, 40, 50}
	for _, tc := range []struct {
		p    float64
		want float64
	}{
		{5, 15}, {20, 15}, {30, 20}, {40, 20}, {50, 35}, {95, 50}, {100, 50}, {0, 15},
	} {
		if got := percentile(sorted, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", sorted, tc.p, got, tc.want)
		}
	}

	// Whole-number ranks must not be pushed one up by floating point.
	hundreds := make([]float64, 200)
	for i := range hundreds {
		hundreds[i] = float64(i + 1)
	}
	for _, tc := range []struct{ p, want float64 }{{50, 100}, {95, 190}, {99, 198}, {99.9, 200}} {
		if got := percentile(hundreds, tc.p); got != tc.want {
			t.Errorf("percentile(1..200, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}

	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil, 50) = %v, want 0", got)
	}
}

func TestSummarizeKeepsInputOrder(t *testing.T) {
	in := []float64{3, 1, 2}
	s := summarize(in)
	if s.Count != 3 || s.Min != 1 || s.Max != 3 || s.P50 != 2 || s.Mean != 2 {
		t.Errorf("summarize(%v) = %+v", in, s)
	}
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("summarize reordered its input: %v", in)
	}
}
