package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// machine describes where the benchmark ran: latencies only compare
// between runs on alike machines.
type machine struct {
	NumCPU    int    `json:"num_cpu"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go_version"`
}

func thisMachine() machine {
	return machine{NumCPU: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version()}
}

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

// writeResult writes r as <dir>/<UTC start, 20060102T150405Z>-<scenario>.json
// and returns the path. It never overwrites an earlier run's file: two runs
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
	stem := r.StartedAt.UTC().Format("20060102T150405Z") + "-" + r.Scenario
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
