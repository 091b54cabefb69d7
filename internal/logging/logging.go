// Package logging builds the process's one root logger: JSON (or text)
// log/slog records carrying service, version and environment, with a level per
// component as configured in config.Logging.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"

	"github.com/incident-server/incident-server/internal/config"
)

// Root is the root logger. It is safe for concurrent use; every logger it
// hands out writes through one handler, so records never interleave.
type Root struct {
	base       slog.Handler // carries service/version/environment, filters nothing
	level      slog.Level
	components map[string]slog.Level
}

// New returns a root logger writing to w. Levels are validated even when
// cfg did not come through config.Load.
func New(w io.Writer, cfg config.Logging, service, version, environment string) (*Root, error) {
	level, err := config.ParseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("new logger: level: %w", err)
	}
	lowest := level
	components := make(map[string]slog.Level, len(cfg.Components))
	names := make([]string, 0, len(cfg.Components))
	for name := range cfg.Components {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		l, err := config.ParseLevel(cfg.Components[name])
		if err != nil {
			return nil, fmt.Errorf("new logger: component %s: %w", name, err)
		}
		components[name] = l
		lowest = min(lowest, l)
	}

	opts := &slog.HandlerOptions{Level: lowest}
	var h slog.Handler
	switch cfg.Format {
	case "json", "":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("new logger: unknown format %q (want json or text)", cfg.Format)
	}
	h = h.WithAttrs([]slog.Attr{
		slog.String("service", service),
		slog.String("version", version),
		slog.String("environment", environment),
	})
	return &Root{base: h, level: level, components: components}, nil
}

// Logger returns the logger at the default level, without a component.
func (r *Root) Logger() *slog.Logger {
	return slog.New(&levelHandler{level: r.level, next: r.base})
}

// Component returns a logger that adds component=name to every record and
// logs at that component's configured level, or the default level when the
// component has none.
func (r *Root) Component(name string) *slog.Logger {
	level, ok := r.components[name]
	if !ok {
		level = r.level
	}
	h := &levelHandler{level: level, next: r.base.WithAttrs([]slog.Attr{slog.String("component", name)})}
	return slog.New(h)
}

// levelHandler drops records below its level and passes the rest on.
type levelHandler struct {
	level slog.Level
	next  slog.Handler
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.next.Enabled(ctx, l)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.next.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelHandler{level: h.level, next: h.next.WithAttrs(attrs)}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{level: h.level, next: h.next.WithGroup(name)}
}
