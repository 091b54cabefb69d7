package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// machine describes where the benchmark ran: latencies only compare
// between runs on alike machines.
type machine struct {
	NumCPU    int    `json:"num_cpu"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go_version"`
	CPUModel  string `json:"cpu_model,omitempty"`
	MemTotal  string `json:"mem_total,omitempty"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute load when the
	// scenario started: above the CPU count, something else was running.
	LoadAvg string `json:"loadavg,omitempty"`
}

func thisMachine() machine {
	m := machine{NumCPU: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(),
		LoadAvg: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "" off Linux.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// defaultOut is where runs write their JSON unless -out says otherwise:
// under the repository's ignored .data/, since raw samples are a run's
// record on one machine, not source. BENCHMARKS.md keeps the summaries.
const defaultOut = ".data/bench"

// result is the JSON file every scenario writes. The scenario fills the
// parts that are its own (parameters, engine, summary, samples).
type result struct {
	Scenario   string    `json:"scenario"`
	Parameters any       `json:"parameters"`
	Machine    machine   `json:"machine"`
	Engine     any       `json:"engine,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
	Summary    any       `json:"summary"`
	Samples    any       `json:"samples"`
}

// writeResult writes r as <dir>/<UTC start, 20060102T150405Z>-<scenario>.json,
// or <dir>/<UTC start>.json for the combined run of every scenario, and
// returns the path. It never overwrites an earlier run's file: two runs
// started in the same second get "-2", "-3", … before ".json".
func writeResult(dir string, r result) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results directory: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode results: %w", err)
	}
	b = append(b, '\n')
	stem := r.StartedAt.UTC().Format("20060102T150405Z")
	if r.Scenario != scenarioAll {
		stem += "-" + r.Scenario
	}
	for i := 1; ; i++ {
		name := stem + ".json"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.json", stem, i)
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("write results: %w", err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return "", fmt.Errorf("write results: %w", err)
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("write results: %w", err)
		}
		return path, nil
	}
}
