package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// What the engine costs at one moment, read from the outside: each
// process's memory and CPU (from /proc) and the size of each store.

// labelledPID names one process of the engine.
type labelledPID struct {
	Label string
	PID   int
}

// procReading is one process over an idle window.
type procReading struct {
	Label string `json:"label"`
	PID   int    `json:"pid"`
	idleReading
}

// idleWindowProcs samples every process each second for d, like
// idleWindow does one.
func idleWindowProcs(procs []labelledPID, d time.Duration, sleep func(time.Duration) bool) ([]procReading, error) {
	type acc struct {
		first, last  procSample
		sum, n, peak int64
	}
	accs := make([]acc, len(procs))
	read := func(first bool) error {
		for i, p := range procs {
			s, err := readProc(p.PID)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Label, err)
			}
			a := &accs[i]
			if first {
				a.first = s
			}
			a.last = s
			a.sum += s.RSSBytes
			a.n++
			a.peak = max(a.peak, s.RSSBytes)
		}
		return nil
	}
	if err := read(true); err != nil {
		return nil, err
	}
	end := time.Now().Add(d)
	for time.Until(end) > 0 {
		if !sleep(min(time.Second, time.Until(end))) {
			return nil, errors.New("interrupted")
		}
		if err := read(false); err != nil {
			return nil, err
		}
	}
	out := make([]procReading, len(procs))
	for i, p := range procs {
		a := accs[i]
		wall := a.last.At.Sub(a.first.At).Seconds()
		r := idleReading{WindowS: wall, RSSBytes: a.last.RSSBytes, RSSMeanByte: a.sum / a.n, RSSMaxBytes: a.peak,
			CPUSeconds: float64(a.last.CPUTicks-a.first.CPUTicks) / clockTicks}
		if wall > 0 {
			r.CPUPercent = 100 * r.CPUSeconds / wall
		}
		out[i] = procReading{Label: p.Label, PID: p.PID, idleReading: r}
	}
	return out, nil
}

// totalReading adds the processes up: memory and CPU of the whole engine.
func totalReading(rs []procReading) idleReading {
	var t idleReading
	for _, r := range rs {
		t.WindowS = max(t.WindowS, r.WindowS)
		t.RSSBytes += r.RSSBytes
		t.RSSMeanByte += r.RSSMeanByte
		t.RSSMaxBytes += r.RSSMaxBytes
		t.CPUSeconds += r.CPUSeconds
		t.CPUPercent += r.CPUPercent
	}
	return t
}

// storeSizes are the engine's stores at one moment.
type storeSizes struct {
	// PostgresBytes is the engine's own database (incidents, timelines,
	// ledger).
	PostgresBytes int64 `json:"postgres_bytes"`
	// TemporalStore is "sqlite", "postgres" or "" (not read), and
	// TemporalBytes its size: the SQLite file with its -wal and -shm, or
	// the persistence and visibility databases together.
	TemporalStore string           `json:"temporal_store,omitempty"`
	TemporalBytes int64            `json:"temporal_bytes"`
	TemporalParts map[string]int64 `json:"temporal_parts,omitempty"`
}

// sizes reads the stores' sizes.
func (e *engine) sizes(ctx context.Context) (storeSizes, error) {
	var s storeSizes
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.DatabaseURL)
	if err != nil {
		return s, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&s.PostgresBytes); err != nil {
		return s, fmt.Errorf("postgres size: %w", err)
	}
	switch {
	case e.TemporalPG != "":
		s.TemporalStore = "postgres"
		u, err := url.Parse(e.TemporalPG)
		if err != nil {
			return s, err
		}
		name := strings.TrimPrefix(u.Path, "/")
		tconn := conn
		if u.Host != hostOf(e.DatabaseURL) {
			if tconn, err = pgx.Connect(ctx, e.TemporalPG); err != nil {
				return s, fmt.Errorf("temporal postgres: %w", err)
			}
			defer tconn.Close(context.Background())
		}
		s.TemporalParts = map[string]int64{}
		for _, db := range []string{name, name + "_visibility"} {
			var n int64
			if err := tconn.QueryRow(ctx, "SELECT pg_database_size($1)", db).Scan(&n); err != nil {
				return s, fmt.Errorf("size of %s: %w", db, err)
			}
			s.TemporalParts[db] = n
			s.TemporalBytes += n
		}
	case e.TemporalDB != "":
		s.TemporalStore = "sqlite"
		db := e.TemporalDB
		s.TemporalBytes, s.TemporalParts = filesSize([]string{db, db + "-wal", db + "-shm"})
	}
	return s, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// procLabels lists the processes' labels in order.
func procLabels(rs []procReading) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Label
	}
	return out
}

// resourceHeader goes with resourceCells: each process's resident memory,
// their total when there are several, each one's CPU, then the stores.
func resourceHeader(labels []string, temporalStore string) []string {
	var h []string
	for _, l := range labels {
		h = append(h, l+" RSS MiB")
	}
	if len(labels) > 1 {
		h = append(h, "total RSS MiB")
	}
	for _, l := range labels {
		h = append(h, l+" CPU %")
	}
	store := "Temporal MiB"
	if temporalStore != "" {
		store = "Temporal " + temporalStore + " MiB"
	}
	return append(h, "Postgres MiB", store)
}

func resourceCells(rs []procReading, s storeSizes) []string {
	var c []string
	for _, r := range rs {
		c = append(c, fmt.Sprintf("%.1f", mib(r.RSSBytes)))
	}
	if len(rs) > 1 {
		c = append(c, fmt.Sprintf("%.1f", mib(totalReading(rs).RSSBytes)))
	}
	for _, r := range rs {
		c = append(c, fmt.Sprintf("%.2f", r.CPUPercent))
	}
	return append(c, fmt.Sprintf("%.1f", mib(s.PostgresBytes)), fmt.Sprintf("%.1f", mib(s.TemporalBytes)))
}

// rssLine renders resident memory for a progress line: "412.3" for one
// process, "temporal 180.2 + worker 150.1 + api 60.0 = 390.3" for several.
func rssLine(rs []procReading) string {
	if len(rs) == 1 {
		return fmt.Sprintf("%.1f", mib(rs[0].RSSBytes))
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s %.1f", r.Label, mib(r.RSSBytes))
	}
	return strings.Join(parts, " + ") + fmt.Sprintf(" = %.1f", mib(totalReading(rs).RSSBytes))
}

// perProcessRSS is each process's growth in resident memory from a to b,
// divided by n.
func perProcessRSS(a, b []procReading, n float64) map[string]float64 {
	before := map[string]int64{}
	for _, r := range a {
		before[r.Label] = r.RSSBytes
	}
	out := map[string]float64{}
	for _, r := range b {
		if v, ok := before[r.Label]; ok {
			out[r.Label] = float64(r.RSSBytes-v) / n
		}
	}
	return out
}

func perIncidentHeader(labels []string) []string {
	if len(labels) == 1 {
		return []string{"RSS bytes"}
	}
	h := make([]string, 0, len(labels)+1)
	for _, l := range labels {
		h = append(h, l+" RSS bytes")
	}
	return append(h, "total RSS bytes")
}

func perIncidentCells(labels []string, each map[string]float64, total float64) []string {
	if len(labels) == 1 {
		return []string{fmt.Sprintf("%.0f", total)}
	}
	c := make([]string, 0, len(labels)+1)
	for _, l := range labels {
		c = append(c, fmt.Sprintf("%.0f", each[l]))
	}
	return append(c, fmt.Sprintf("%.0f", total))
}
