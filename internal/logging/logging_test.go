package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/incident-server/incident-server/internal/config"
)

// records decodes one JSON object per line.
func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func newRoot(t *testing.T, buf *bytes.Buffer) *Root {
	t.Helper()
	root, err := New(buf, config.Default().Logging, "incident-server", "1.2.3", "test")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return root
}

func TestComponentLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		logger    func(r *Root) *slog.Logger
		level     slog.Level
		wantKept  bool
		component string // expected component field; "" means absent
	}{
		{"warn component drops info", func(r *Root) *slog.Logger { return r.Component("database") }, slog.LevelInfo, false, "database"},
		{"warn component keeps warn", func(r *Root) *slog.Logger { return r.Component("database") }, slog.LevelWarn, true, "database"},
		{"debug component keeps debug", func(r *Root) *slog.Logger { return r.Component("websocket") }, slog.LevelDebug, true, "websocket"},
		{"unconfigured component uses default level", func(r *Root) *slog.Logger { return r.Component("escalation") }, slog.LevelDebug, false, "escalation"},
		{"unconfigured component keeps info", func(r *Root) *slog.Logger { return r.Component("escalation") }, slog.LevelInfo, true, "escalation"},
		{"root drops debug", func(r *Root) *slog.Logger { return r.Logger() }, slog.LevelDebug, false, ""},
		{"root keeps info", func(r *Root) *slog.Logger { return r.Logger() }, slog.LevelInfo, true, ""},
		{"derived logger keeps its component level", func(r *Root) *slog.Logger {
			return r.Component("cache").With("incident_id", "inc-1").WithGroup("g")
		}, slog.LevelInfo, false, "cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tt.logger(newRoot(t, &buf)).Log(t.Context(), tt.level, "hello", "incident_id", "inc-42")
			recs := records(t, &buf)
			if !tt.wantKept {
				if len(recs) != 0 {
					t.Fatalf("record at %s was kept: %v", tt.level, recs)
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1", len(recs))
			}
			rec := recs[0]
			want := map[string]any{
				"msg": "hello", "level": tt.level.String(), "incident_id": "inc-42",
				"service": "incident-server", "version": "1.2.3", "environment": "test",
			}
			for k, v := range want {
				if rec[k] != v {
					t.Errorf("%s = %v, want %v (record %v)", k, rec[k], v, rec)
				}
			}
			got, has := rec["component"]
			switch {
			case tt.component == "" && has:
				t.Errorf("root record has component %v", got)
			case tt.component != "" && got != tt.component:
				t.Errorf("component = %v, want %s", got, tt.component)
			}
			if _, ok := rec["time"]; !ok {
				t.Error("record has no time")
			}
		})
	}
}

func TestConcurrentComponentsShareOneStream(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	root := newRoot(t, &buf)
	done := make(chan struct{})
	for _, name := range []string{"api", "connectors", "websocket"} {
		go func() {
			defer func() { done <- struct{}{} }()
			l := root.Component(name)
			for i := range 100 {
				l.Info("tick", "i", i)
			}
		}()
	}
	for range 3 {
		<-done
	}
	if got := len(records(t, &buf)); got != 300 {
		t.Fatalf("got %d whole records, want 300", got)
	}
}

func TestTextFormat(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	cfg := config.Default().Logging
	cfg.Format = "text"
	root, err := New(&buf, cfg, "incident-server", "dev", "development")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	root.Component("api").Info("listening", "addr", "127.0.0.1:8080")
	line := buf.String()
	for _, want := range []string{"level=INFO", "msg=listening", "service=incident-server", "version=dev", "environment=development", "component=api", "addr=127.0.0.1:8080"} {
		if !strings.Contains(line, want) {
			t.Errorf("text line %q lacks %q", line, want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(c *config.Logging)
		want string
	}{
		{"unknown default level", func(c *config.Logging) { c.Level = "loud" }, "level"},
		{"unknown component level", func(c *config.Logging) { c.Components = map[string]string{"api": "trace"} }, "component api"},
		{"unknown format", func(c *config.Logging) { c.Format = "xml" }, "format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default().Logging
			tt.edit(&cfg)
			_, err := New(&bytes.Buffer{}, cfg, "s", "v", "e")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
