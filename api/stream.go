package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/live"
)

// GET /api/v1/stream is the web console's live feed, as Server-Sent
// Events: one-way is all the console needs, EventSource reconnects by
// itself and sends Last-Event-ID when it does, and SSE passes proxies and
// HTTP/2 untouched.
//
// Without a query it is the incident list's feed: an "incident" event
// (the incident's row) for each incident opened or changed, its SSE id the
// notice's Redis Stream entry ID, from which a reconnect resumes. With
// ?incident=ID it is one incident's feed: "incident" (its row), "timeline"
// (new events, in sequence order; the SSE id is the highest sequence up to
// which the browser has every event, from which a reconnect resumes) and
// "alerts" (its alerts). On both, "mode" says whether live updates flow
// ({"live":true}) or the console should poll the REST API every
// poll_seconds because Redis is unreachable ({"live":false}), and "reset"
// says the feed lost track (the browser fell behind, or Redis lost
// notices): reload what is shown. A comment line every 15 s keeps proxies
// from closing an idle stream.

const (
	// streamPing is how often an idle stream sends a comment line.
	streamPing = 15 * time.Second
	// streamRetry is the reconnection delay EventSource is told to use.
	streamRetry = 2 * time.Second
	// gapGrace is how long an incident's feed holds back events behind a
	// missing sequence number: the events of one workflow task can commit
	// out of order, so a gap usually fills within milliseconds. Past it the
	// gap is taken as permanent (an event never recorded) and skipped.
	gapGrace = 2 * time.Second
	// catchUpLimit bounds one read of missed events or notices.
	catchUpLimit = 500
	// streamingKey marks a request as a stream, which observe counts but
	// does not time: its duration is how long a page stayed open.
	streamingKey = "streaming"
)

func (s *Server) streamRoutes(v1 *gin.RouterGroup) {
	v1.GET("/stream", s.asViewer, s.stream)
}

// sse writes Server-Sent Events.
type sse struct {
	w  gin.ResponseWriter
	rc *http.ResponseController
}

func (e *sse) event(name, id string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", name, err)
	}
	if id != "" {
		if _, err := fmt.Fprintf(e.w, "id: %s\n", id); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", name, raw); err != nil {
		return err
	}
	return e.rc.Flush()
}

func (e *sse) comment(text string) error {
	if _, err := io.WriteString(e.w, ": "+text+"\n\n"); err != nil {
		return err
	}
	return e.rc.Flush()
}

type modeEvent struct {
	Live        bool `json:"live"`
	PollSeconds int  `json:"poll_seconds"`
}

func (s *Server) mode(liveNow bool) modeEvent {
	return modeEvent{Live: liveNow, PollSeconds: s.consoleInfo().PollSeconds}
}

func (s *Server) stream(c *gin.Context) {
	ctx := c.Request.Context()
	var inc incident.Incident
	if id := c.Query("incident"); id != "" {
		var err error
		if inc, err = s.lookup(ctx, id); err != nil {
			s.abort(c, err)
			return
		}
	}
	resume := c.GetHeader("Last-Event-ID")
	if resume == "" {
		resume = c.Query("after")
	}
	var after int64
	if inc.ID != "" && resume != "" {
		n, err := strconv.ParseInt(resume, 10, 64)
		if err != nil || n < 0 {
			s.abort(c, fault.InvalidField("after", "must be a timeline sequence number"))
			return
		}
		after = n
	}
	if inc.ID == "" && resume != "" && !live.ValidID(resume) {
		s.abort(c, fault.InvalidField("after", "must be an ID this stream sent"))
		return
	}

	c.Set(streamingKey, true)
	// A stream outlives the server's write timeout by design; it ends when
	// the browser goes away or the hub closes (shutdown).
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetWriteDeadline(time.Time{})
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	out := &sse{w: c.Writer, rc: rc}
	if _, err := fmt.Fprintf(c.Writer, "retry: %d\n\n", streamRetry.Milliseconds()); err != nil {
		return
	}

	if s.hub == nil {
		// No Redis configured for live updates: the console polls.
		if out.event("mode", "", s.mode(false)) != nil {
			return
		}
		s.idle(ctx, out, nil)
		return
	}
	sub, liveNow := s.hub.Subscribe(inc.ID)
	defer sub.Close()
	if out.event("mode", "", s.mode(liveNow)) != nil {
		return
	}
	var err error
	if inc.ID != "" {
		err = s.streamIncident(ctx, out, sub, inc.ID, after)
	} else {
		err = s.streamList(ctx, out, sub, resume)
	}
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "live stream ended", "request_id", requestID(c), "incident_id", inc.ID, "error", err)
	}
}

// idle keeps a stream open with pings until the browser leaves or sub
// closes.
func (s *Server) idle(ctx context.Context, out *sse, sub *live.Subscription) {
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	var msgs <-chan live.Message
	if sub != nil {
		msgs = sub.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-msgs:
			if !ok {
				return
			}
		case <-ping.C:
			if out.comment("ping") != nil {
				return
			}
		}
	}
}

// streamList is the incident list's feed. It resumes after the stream
// entry resume (when set), then forwards every change notice with the
// incident's row.
func (s *Server) streamList(ctx context.Context, out *sse, sub *live.Subscription, resume string) error {
	last := resume
	send := func(n live.Notice) error {
		if n.Kind != live.KindChange {
			return nil
		}
		inc, err := s.lookup(ctx, n.IncidentID)
		if fault.Is(err, fault.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		last = n.ID
		return out.event("incident", n.ID, inc)
	}
	if resume != "" {
		notices, complete, err := s.hub.After(ctx, resume, catchUpLimit)
		switch {
		case err != nil || !complete || len(notices) == catchUpLimit:
			if err := out.event("reset", "", struct{}{}); err != nil {
				return err
			}
		default:
			for _, n := range notices {
				if err := send(n); err != nil {
					return err
				}
				last = n.ID
			}
		}
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			if err := out.comment("ping"); err != nil {
				return err
			}
		case m, ok := <-sub.C:
			if !ok {
				return nil
			}
			if sub.Lagged() {
				if err := out.event("reset", "", struct{}{}); err != nil {
					return err
				}
			}
			if m.Status {
				if err := out.event("mode", "", s.mode(m.Live)); err != nil {
					return err
				}
				// Notices published while Redis was away are lost.
				if m.Live {
					if err := out.event("reset", "", struct{}{}); err != nil {
						return err
					}
				}
				continue
			}
			// The catch-up may have sent it already.
			if last != "" && !after(m.Notice.ID, last) {
				continue
			}
			if err := send(m.Notice); err != nil {
				return err
			}
		}
	}
}

func after(id, than string) bool { return live.CompareIDs(id, than) > 0 }

// streamIncident is one incident's feed. It sends the incident, its alerts
// and the events after sequence watermark at once, then again whenever a
// notice says they changed. Events go out in sequence order and only
// without gaps (see gapGrace), so the watermark it sends as the SSE id is
// safe to resume from.
func (s *Server) streamIncident(ctx context.Context, out *sse, sub *live.Subscription, id string, watermark int64) error {
	var gapSince time.Time
	gapTimer := time.NewTimer(time.Hour)
	gapTimer.Stop()
	defer gapTimer.Stop()

	sendIncident := func() error {
		inc, err := s.store.GetIncident(ctx, id)
		if err != nil {
			return err
		}
		return out.event("incident", "", inc)
	}
	sendAlerts := func() error {
		as, err := s.store.ListAlerts(ctx, id)
		if err != nil {
			return err
		}
		views := make([]alertView, len(as))
		for i, a := range as {
			views[i] = alertView{IncidentID: id, AlertState: a}
		}
		return out.event("alerts", "", views)
	}
	sendTimeline := func() error {
		events, err := s.store.TimelineSince(ctx, id, watermark, catchUpLimit)
		if err != nil {
			return err
		}
		var ready []incident.Event
		next := watermark
		held := false
		for _, ev := range events {
			if ev.Seq > next+1 && (gapSince.IsZero() || time.Since(gapSince) < gapGrace) {
				held = true
				break
			}
			ready = append(ready, ev)
			next = max(next, ev.Seq)
		}
		switch {
		case held && gapSince.IsZero():
			gapSince = time.Now()
			gapTimer.Reset(gapGrace)
		case !held:
			gapSince = time.Time{}
		}
		if len(ready) == 0 {
			return nil
		}
		watermark = next
		return out.event("timeline", strconv.FormatInt(watermark, 10), ready)
	}
	all := func() error {
		if err := sendIncident(); err != nil {
			return err
		}
		if err := sendAlerts(); err != nil {
			return err
		}
		return sendTimeline()
	}
	if err := all(); err != nil {
		return err
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			if err := out.comment("ping"); err != nil {
				return err
			}
		case <-gapTimer.C:
			if err := sendTimeline(); err != nil {
				return err
			}
		case m, ok := <-sub.C:
			if !ok {
				return nil
			}
			// Take every notice already queued: one read answers them all.
			kinds := map[live.Kind]bool{}
			status, lagged := []live.Message{}, false
			collect := func(m live.Message) {
				if m.Status {
					status = append(status, m)
					return
				}
				kinds[m.Notice.Kind] = true
			}
			collect(m)
		drain:
			for {
				select {
				case m, ok := <-sub.C:
					if !ok {
						break drain
					}
					collect(m)
				default:
					break drain
				}
			}
			lagged = sub.Lagged()
			for _, st := range status {
				if err := out.event("mode", "", s.mode(st.Live)); err != nil {
					return err
				}
				if st.Live {
					// Notices published while Redis was away are lost.
					lagged = true
				}
			}
			if lagged {
				if err := all(); err != nil {
					return err
				}
				continue
			}
			if kinds[live.KindChange] {
				if err := sendIncident(); err != nil {
					return err
				}
			}
			if kinds[live.KindAlerts] {
				if err := sendAlerts(); err != nil {
					return err
				}
			}
			if kinds[live.KindChange] || kinds[live.KindEvent] {
				if err := sendTimeline(); err != nil {
					return err
				}
			}
		}
	}
}
