package main

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// pinger pings every heartbeat monitor once per period, spread evenly
// over it (monitor i at i/n of the period), from a bounded pool of
// clients, as many cron jobs would. When the pool cannot keep up, pings go
// out late rather than piling up: the lag behind the schedule is measured.
type pinger struct {
	c       *client
	key     string
	ids     []string
	every   time.Duration
	clients int
	// pings counts each monitor's successful pings, scheduled or not.
	pings []atomic.Int64

	mu       sync.Mutex
	segStart time.Time
	lat, lag []float64
	ok, errs int
	first    string
}

func newPinger(c *client, key string, ids []string, every time.Duration, clients int) *pinger {
	return &pinger{c: c, key: key, ids: ids, every: every, clients: clients, pings: make([]atomic.Int64, len(ids)), segStart: time.Now()}
}

type pingJob struct {
	i   int
	due time.Time
}

// run pings until ctx ends.
func (p *pinger) run(ctx context.Context) {
	jobs := make(chan pingJob, p.clients)
	var wg sync.WaitGroup
	for range p.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				lag := ms(time.Since(j.due))
				t0 := time.Now()
				_, err := p.ping(ctx, j.i)
				d := ms(time.Since(t0))
				p.mu.Lock()
				if err == nil {
					p.ok++
					p.lat = append(p.lat, d)
					p.lag = append(p.lag, lag)
				} else if ctx.Err() == nil {
					p.errs++
					if p.first == "" {
						p.first = err.Error()
					}
				}
				p.mu.Unlock()
			}
		}()
	}
	defer wg.Wait()
	defer close(jobs)
	start := time.Now()
	n := len(p.ids)
	for round := 0; ; round++ {
		for i := range n {
			due := start.Add(time.Duration(round)*p.every + time.Duration(int64(p.every)*int64(i)/int64(n)))
			if wait := time.Until(due); wait > time.Millisecond && !sleepCtx(ctx, wait) {
				return
			}
			select {
			case jobs <- pingJob{i: i, due: due}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// ping pings monitor i with the monitors' integration key.
func (p *pinger) ping(ctx context.Context, i int) (int, error) {
	status, err := p.c.doAuth(ctx, "POST", "/api/v1/heartbeats/"+url.PathEscape(p.ids[i]), p.key, nil, nil)
	if err == nil {
		p.pings[i].Add(1)
	}
	return status, err
}

// counts returns the successful pings of the first n monitors so far.
func (p *pinger) counts(n int) []int64 {
	out := make([]int64, n)
	for i := range n {
		out[i] = p.pings[i].Load()
	}
	return out
}

// segment returns the scheduled pings since the previous call and starts
// a new segment.
func (p *pinger) segment() pingSegment {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := pingSegment{OK: p.ok, Errors: p.errs, FirstError: p.first, ElapsedS: time.Since(p.segStart).Seconds(),
		LatencyMs: summarize(p.lat), LagMs: summarize(p.lag)}
	if s.ElapsedS > 0 {
		s.PerSecond = float64(s.OK) / s.ElapsedS
	}
	p.segStart, p.lat, p.lag, p.ok, p.errs, p.first = time.Now(), nil, nil, 0, 0, ""
	return s
}

// progress is one line for the progress report.
func (p *pinger) progress() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%d pings since the last point (%d errors)", p.ok, p.errs)
}
