package faults_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// push is one push the receiver took: one device token of one
// notification, with the page's data as the engine sent it.
type push struct {
	At         time.Time
	Token      string
	IncidentID string
	// Step is 1-based, as the engine sends it; Round counts from 0.
	Step   int
	Round  int
	Reason string
	// DeliveryID is the engine's stable id of the delivery, when it sends
	// one (data.delivery_id); retries of one delivery share it.
	DeliveryID string
}

// receiver records pushes on loopback, speaking the part of Gorush's API the
// engine uses: POST /api/push answered as Gorush with core.sync: true does
// (every push taken: counts, no failure logs), GET /healthz and
// GET /api/stat/app.
type receiver struct {
	url string
	mu  sync.Mutex
	got []push
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/push", r.push)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("welcome to gorush\n"))
	})
	mux.HandleFunc("GET /api/stat/app", func(w http.ResponseWriter, _ *http.Request) {
		r.mu.Lock()
		n := len(r.got)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"version": "faults", "total_count": n,
			"ios": map[string]int{"push_success": n, "push_error": 0}})
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	r.url = ts.URL
	return r
}

func (r *receiver) push(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	var body struct {
		Notifications []struct {
			Tokens   []string       `json:"tokens"`
			Platform int            `json:"platform"`
			Data     map[string]any `json:"data"`
		} `json:"notifications"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil || len(body.Notifications) == 0 {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"code":400,"message":"bad request"}`))
		return
	}
	counts := 0
	r.mu.Lock()
	for _, n := range body.Notifications {
		for _, tok := range n.Tokens {
			counts++
			r.got = append(r.got, push{
				At: at, Token: tok,
				IncidentID: str(n.Data["incident_id"]),
				Step:       num(n.Data["step"]),
				Round:      num(n.Data["round"]),
				Reason:     str(n.Data["reason"]),
				DeliveryID: str(n.Data["delivery_id"]),
			})
		}
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"counts":%d,"logs":[],"success":"ok"}`, counts)
}

// pushes returns a copy of what was received so far, in arrival order.
func (r *receiver) pushes() []push {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]push(nil), r.got...)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}
