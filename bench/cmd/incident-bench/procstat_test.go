package main

import (
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	got, err := parseVmRSS("Name:\tincident-server\nVmPeak:\t 2381416 kB\nVmRSS:\t  381108 kB\nRssAnon:\t 247660 kB\n")
	if err != nil || got != 381108*1024 {
		t.Errorf("parseVmRSS = %d, %v; want %d", got, err, 381108*1024)
	}
	if _, err := parseVmRSS("Name:\tkthreadd\nState:\tS (sleeping)\n"); err == nil {
		t.Error("parseVmRSS accepted a status without VmRSS")
	}
}

// The command name may hold spaces and parentheses; fields count from the last ')'.
func TestParseStatCPU(t *testing.T) {
	stat := "9071 (incident (dev) x) S 1 9071 9071 0 -1 4194560 123 0 0 0 1234 567 0 0 20 0 40 0 100 2381416 95277"
	got, err := parseStatCPU(stat)
	if err != nil || got != 1234+567 {
		t.Errorf("parseStatCPU = %d, %v; want %d", got, err, 1234+567)
	}
	if _, err := parseStatCPU("9071 (x) S 1 2"); err == nil {
		t.Error("parseStatCPU accepted a truncated stat")
	}
}

func TestListeningInodes(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1C3D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
`
	if got := listeningInodes(table, 8080); !slices.Equal(got, []string{"4242"}) {
		t.Errorf("listeningInodes(8080) = %v, want [4242] (the listener, not the connection)", got)
	}
	if got := listeningInodes(table, 9999); len(got) != 0 {
		t.Errorf("listeningInodes(9999) = %v, want none", got)
	}
}

// The benchmark finds the engine by the port it listens on; here, itself.
func TestListenerPIDFindsThisProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pid, err := listenerPID(ln.Addr().(*net.TCPAddr).Port)
	if err != nil || pid != os.Getpid() {
		t.Errorf("listenerPID = %d, %v; want this process, %d", pid, err, os.Getpid())
	}
}

func TestCostDeltasPerIncident(t *testing.T) {
	procs := func(worker, api int64) []procReading {
		return []procReading{
			{Label: procWorker, idleReading: idleReading{RSSBytes: worker}},
			{Label: procAPI, idleReading: idleReading{RSSBytes: api}},
		}
	}
	pts := []costPoint{
		{OpenIncidents: 0, Engine: idleReading{RSSBytes: 100 << 20, CPUPercent: 1}, Processes: procs(80<<20, 20<<20),
			storeSizes: storeSizes{PostgresBytes: 1000, TemporalBytes: 5000}},
		{OpenIncidents: 1000, Engine: idleReading{RSSBytes: 200 << 20, CPUPercent: 3}, Processes: procs(170<<20, 30<<20),
			storeSizes: storeSizes{PostgresBytes: 5001000, TemporalBytes: 30005000}},
	}
	ds := costDeltas(pts)
	if len(ds) != 1 {
		t.Fatalf("costDeltas = %+v", ds)
	}
	d := ds[0]
	if d.From != 0 || d.To != 1000 || d.RSSBytesPerIncident != float64(100<<20)/1000 ||
		d.CPUPercentPer1000 != 2 || d.PostgresBytesPerIncident != 5000 || d.TemporalBytesPerIncident != 30000 {
		t.Errorf("costDeltas = %+v", d)
	}
	if d.ProcessRSSBytesPerIncident[procWorker] != float64(90<<20)/1000 || d.ProcessRSSBytesPerIncident[procAPI] != float64(10<<20)/1000 {
		t.Errorf("per process = %v", d.ProcessRSSBytesPerIncident)
	}
}

// Several processes are read in one window, each on its own.
func TestIdleWindowProcsReadsEachProcess(t *testing.T) {
	self := os.Getpid()
	rs, err := idleWindowProcs([]labelledPID{{procWorker, self}, {procAPI, self}}, 1200*time.Millisecond,
		func(d time.Duration) bool { time.Sleep(d); return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Label != procWorker || rs[1].Label != procAPI || rs[0].PID != self {
		t.Fatalf("idleWindowProcs = %+v", rs)
	}
	for _, r := range rs {
		if r.RSSBytes <= 0 || r.WindowS < 1.1 || r.CPUPercent < 0 {
			t.Errorf("%s: %+v", r.Label, r.idleReading)
		}
	}
	if tot := totalReading(rs); tot.RSSBytes != rs[0].RSSBytes+rs[1].RSSBytes {
		t.Errorf("totalReading = %+v", tot)
	}
}

// Each figure reads against its own kind of ceiling at the nearest level
// not above its own concurrency.
func TestAttachCeilings(t *testing.T) {
	hs := []headline{
		{Scenario: scenarioCeilings, Kind: measureWorkflowStart, Concurrency: 1, Count: 10, PerSecond: 40},
		{Scenario: scenarioCeilings, Kind: measureWorkflowStart, Concurrency: 8, Count: 10, PerSecond: 50},
		{Scenario: scenarioCeilings, Kind: measureWorkflowRun, Concurrency: 1, Count: 10, PerSecond: 20, LatencyMs: stats{Count: 10, P50: 40}},
		{Scenario: scenarioCeilings, Kind: measurePGInsert, Concurrency: 8, Count: 10, PerSecond: 10000},
		{Scenario: scenarioOpen, Kind: "open", Concurrency: 32, Count: 5, PerSecond: 10},
		{Scenario: scenarioOpen, Kind: "acknowledge", Concurrency: 1, Count: 5, PerSecond: 20, LatencyMs: stats{Count: 5, P50: 60}},
		{Scenario: scenarioAlert, Kind: kindAlerts, Concurrency: 1, Count: 5, PerSecond: 2500},
		{Scenario: "page-latency", Kind: "step due → timer fired", LatencyMs: stats{Count: 5, P50: 10}},
	}
	attachCeilings(hs)
	want := []struct {
		i     int
		value float64
		ratio float64
	}{
		{4, 20, 0.5},     // open at 32 against start→complete at 1, the only level
		{5, 40, 1.5},     // acknowledge p50 against start→complete p50
		{6, 10000, 0.25}, // alerts at 1 against the only INSERT level, 8
	}
	for _, w := range want {
		c := hs[w.i].Ceiling
		if c == nil || c.Value != w.value || c.Ratio != w.ratio {
			t.Errorf("%s: ceiling %+v, want value %g ratio %g", hs[w.i].Kind, c, w.value, w.ratio)
		}
	}
	for _, i := range []int{0, 1, 2, 3, 7} {
		if hs[i].Ceiling != nil {
			t.Errorf("%s %s: unexpected ceiling %+v", hs[i].Scenario, hs[i].Kind, hs[i].Ceiling)
		}
	}
}
