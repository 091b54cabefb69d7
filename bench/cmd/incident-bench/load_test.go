package main

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestParseLevels(t *testing.T) {
	got, err := parseLevels("1, 8,32")
	if err != nil || !slices.Equal(got, []int{1, 8, 32}) {
		t.Errorf("parseLevels(\"1, 8,32\") = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,,8", "x", "1000"} {
		if _, err := parseLevels(bad); err == nil {
			t.Errorf("parseLevels(%q) accepted", bad)
		}
	}
}

// The request limit must stop a loop long before its duration would.
func TestRunLoadStopsAtLimitAndCountsErrors(t *testing.T) {
	start := time.Now()
	ls := runLoad(context.Background(), 4, time.Minute, 10, func(_ context.Context, i int) (int, error) {
		if i%5 == 0 {
			return 503, errors.New("unavailable")
		}
		return 200, nil
	})
	if time.Since(start) > 10*time.Second {
		t.Fatalf("runLoad ran %s with a limit of 10 requests", time.Since(start))
	}
	if ls.Requests != 10 || ls.OK != 8 || ls.Errors != 2 || ls.ErrorsBy["503"] != 2 || ls.LatencyMs.Count != 8 {
		t.Errorf("runLoad = %+v", ls)
	}
}

// The duration must stop a loop that the limit would not.
func TestRunLoadStopsAtDuration(t *testing.T) {
	ls := runLoad(context.Background(), 2, 50*time.Millisecond, maxOpsPerLevel, func(ctx context.Context, _ int) (int, error) {
		time.Sleep(time.Millisecond)
		return 200, nil
	})
	if ls.Requests == 0 || ls.Requests >= maxOpsPerLevel || ls.ElapsedS > 5 {
		t.Errorf("runLoad = %d requests in %.2fs", ls.Requests, ls.ElapsedS)
	}
}
