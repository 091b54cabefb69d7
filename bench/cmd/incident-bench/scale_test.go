package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseCheckpoints(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want []int
	}{
		{"", 100000, []int{10000, 100000}},
		{"0,10000,100000", 100000, []int{10000, 100000}},
		{"1000", 5000, []int{1000, 5000}},
		{"", 0, nil},
	} {
		got, err := parseCheckpoints(tt.in, tt.n)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("parseCheckpoints(%q, %d) = %v, %v; want %v", tt.in, tt.n, got, err, tt.want)
		}
	}
	for _, bad := range []string{"10,5", "x", "-1", "200"} {
		if _, err := parseCheckpoints(bad, 100); err == nil {
			t.Errorf("parseCheckpoints(%q, 100) accepted", bad)
		}
	}
}

func TestScaleFlagsDefaultToTheRecordedRun(t *testing.T) {
	p, err := parseScaleFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if p.Incidents != 100_000 || p.Monitors != 10_000 || !slices.Equal(p.Checkpoints, []int{10_000, 100_000}) ||
		p.pingEvery != time.Minute || p.PingBurstClients != 8 {
		t.Errorf("defaults = %+v", p)
	}
	if _, err := parseScaleFlags([]string{"-ping-every", "60s", "-monitor-interval", "60s"}, io.Discard); err == nil {
		t.Error("a monitor interval no longer than the pings' period was accepted: every late ping would open an incident")
	}
	if _, err := parseScaleFlags([]string{"-topology", "cluster"}, io.Discard); err == nil {
		t.Error("an unknown topology was accepted")
	}
	p, err = parseScaleFlags([]string{"-topology", topologySplitPostgres, "-worker-env", "INCIDENT_WORKER_STICKY_CACHE_SIZE=500"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if p.TemporalDB != "" || !slices.Equal([]string(p.WorkerEnv), []string{"INCIDENT_WORKER_STICKY_CACHE_SIZE=500"}) {
		t.Errorf("launch flags = %+v", p.launchFlags)
	}
}

func TestEnvFlagWantsKeyValue(t *testing.T) {
	var e envFlag
	for _, ok := range []string{"A=1", "B=", "C=x=y"} {
		if err := e.Set(ok); err != nil {
			t.Errorf("Set(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"A", "=1", "A B=1"} {
		if err := e.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	if !slices.Equal([]string(e), []string{"A=1", "B=", "C=x=y"}) {
		t.Errorf("envFlag = %v", e)
	}
}

// Each claimed page is reported at the first point after it was read, once;
// one still unclaimed a minute after it fell due counts missing, once.
func TestLatenessReportsEachSampleOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	r := &scaleRun{p: scaleParams{lateDelay: 2 * time.Minute}}
	r.late = []*lateSample{
		{ID: "a", OpenedAt: t0, DueAt: t0.Add(2 * time.Minute), ClaimedAt: t0.Add(2*time.Minute + 40*time.Millisecond)},
		{ID: "b", OpenedAt: t0},
	}
	ls := r.lateness(t0.Add(150 * time.Second))
	if ls.Paged != 1 || ls.Missing != 0 || ls.ClaimMs.P50 != 40 {
		t.Errorf("first point: %+v", ls)
	}
	ls = r.lateness(t0.Add(4 * time.Minute))
	if ls.Paged != 0 || ls.Missing != 1 {
		t.Errorf("second point: %+v", ls)
	}
	r.late[1].DueAt, r.late[1].ClaimedAt = t0.Add(2*time.Minute), t0.Add(5*time.Minute)
	ls = r.lateness(t0.Add(6 * time.Minute))
	if ls.Paged != 1 || ls.Missing != 0 || ls.ClaimMs.Max != 180000 {
		t.Errorf("third point: %+v", ls)
	}
}

func TestPacerSpacesEvents(t *testing.T) {
	p := &pacer{every: 20 * time.Millisecond}
	start := time.Now()
	for range 6 {
		if !p.wait(context.Background()) {
			t.Fatal("wait failed")
		}
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("6 events took %s, want at least 5 gaps of 20ms", d)
	}
}

// The pinger pings every monitor once per period with the integration key,
// spread over the period, and counts each monitor's pings.
func TestPingerPingsEachMonitorEveryPeriod(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.Header.Get("Authorization") != "Bearer ik_test" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got[strings.TrimPrefix(r.URL.Path, "/api/v1/heartbeats/")]++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c, err := newClient(srv.URL, 4, "user-token")
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"hb_1", "hb_2", "hb_3", "hb_4"}
	p := newPinger(c, "ik_test", ids, 400*time.Millisecond, 2)
	// Two periods and a little: every monitor is due at least twice.
	ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
	defer cancel()
	p.run(ctx)
	seg := p.segment()
	mu.Lock()
	defer mu.Unlock()
	for i, id := range ids {
		if got[id] < 2 || p.counts(len(ids))[i] != int64(got[id]) {
			t.Errorf("%s: server saw %d pings, pinger counted %d; want at least 2 and equal", id, got[id], p.counts(len(ids))[i])
		}
	}
	if seg.Errors != 0 || seg.OK < 8 || seg.LagMs.P99 > 200 {
		t.Errorf("segment = %+v", seg)
	}
	if next := p.segment(); next.OK != 0 {
		t.Errorf("segment did not start over: %+v", next)
	}
}

// A started engine needs its ports free; the launcher says which one is
// taken before it creates anything.
func TestLaunchRefusesAPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	lf := launchFlags{Topology: topologySplitSQLite, EngineBin: "/bin/true", EngineData: t.TempDir(), HistoryShards: 1}
	_, err = openEngine(context.Background(), lf, "http://"+l.Addr().String(), "127.0.0.1:1", "postgres://127.0.0.1:1/x", "", io.Discard)
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()+" is in use") {
		t.Errorf("openEngine = %v, want the busy address named", err)
	}
}
