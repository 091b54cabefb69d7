package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/testenv"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	id, name string
	data     json.RawMessage
}

// sseStream reads GET path's events until the test ends or close.
type sseStream struct {
	events <-chan sseEvent
	close  func()
}

func openStream(t *testing.T, url, lastEventID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testenv.Token(t, auth.Viewer))
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = json.RawMessage(strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	s := &sseStream{events: ch, close: cancel}
	t.Cleanup(cancel)
	return s
}

// next returns the next event named name, skipping others.
func (s *sseStream) next(t *testing.T, name string) sseEvent {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			require.True(t, ok, "stream ended before a %s event", name)
			if ev.name == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within 20 s", name)
		}
	}
}

// An incident's feed sends the incident and its timeline at once, then
// each change; a reconnect with Last-Event-ID gets only what it missed.
func TestIncidentStreamResumesFromTheLastSequence(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	inc := openIncident(t, s, "stream-"+randomID())
	url := s.url + "/api/v1/stream?incident=" + inc.ID

	st := openStream(t, url, "")
	var mode struct {
		Live        bool `json:"live"`
		PollSeconds int  `json:"poll_seconds"`
	}
	require.NoError(t, json.Unmarshal(st.next(t, "mode").data, &mode))
	require.True(t, mode.Live)
	var got incident.Incident
	require.NoError(t, json.Unmarshal(st.next(t, "incident").data, &got))
	require.Equal(t, inc.ID, got.ID)
	tl := st.next(t, "timeline")
	var events []incident.Event
	require.NoError(t, json.Unmarshal(tl.data, &events))
	require.Equal(t, incident.EventOpened, events[0].Type)
	for i, ev := range events {
		require.Equal(t, int64(i+1), ev.Seq, "every event, in sequence order")
	}
	require.Equal(t, itoa(int64(len(events))), tl.id, "the id is the sequence up to which the stream sent everything")

	r := do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/notes", map[string]string{"note": "first look"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	live := st.next(t, "timeline")
	require.NoError(t, json.Unmarshal(live.data, &events))
	require.Len(t, events, 1)
	require.Equal(t, "first look", events[0].Message)
	seen := live.id
	st.close()

	// While away: a note and an acknowledgement.
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/notes", map[string]string{"note": "while you were away"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/acknowledge", map[string]string{})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	back := openStream(t, url, seen)
	require.NoError(t, json.Unmarshal(back.next(t, "incident").data, &got))
	require.Equal(t, incident.StatusAcknowledged, got.Status)
	require.NoError(t, json.Unmarshal(back.next(t, "timeline").data, &events))
	types := []incident.EventType{}
	for _, ev := range events {
		types = append(types, ev.Type)
	}
	require.Equal(t, []incident.EventType{incident.EventNote, incident.EventAcknowledged}, types, "only what was missed, in order")
}

// The list's feed resumes from the last stream entry it sent, and says
// "reset" when it cannot.
func TestListStreamResumesFromTheLastEntry(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	service := "list-" + randomID()
	st := openStream(t, s.url+"/api/v1/stream", "")
	st.next(t, "mode")
	first := openIncident(t, s, service)
	var got incident.Incident
	ev := st.next(t, "incident")
	require.NoError(t, json.Unmarshal(ev.data, &got))
	require.Equal(t, first.ID, got.ID)
	st.close()

	second := openIncident(t, s, service)
	back := openStream(t, s.url+"/api/v1/stream", ev.id)
	require.NoError(t, json.Unmarshal(back.next(t, "incident").data, &got))
	require.Equal(t, second.ID, got.ID, "the incident opened while away comes first")

	stale := openStream(t, s.url+"/api/v1/stream", "1-0")
	stale.next(t, "reset")
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
