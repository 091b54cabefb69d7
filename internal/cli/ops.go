package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/incident-server/incident-server/internal/app"
	"github.com/incident-server/incident-server/internal/store"
)

// runMigrate applies (up), reverts (down N, default 1) or lists (status)
// the embedded migrations.
func runMigrate(ctx context.Context, args []string, out io.Writer) error {
	cfg, rest, err := app.LoadConfig("migrate", args, nil)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return fmt.Errorf("say up, down [N] or status")
	}
	st, err := store.Open(ctx, cfg.Database.URL, store.PoolOptions{MaxConns: 2, QueryExecMode: cfg.Database.QueryExecMode})
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer st.Close()
	switch rest[0] {
	case "up":
		applied, err := store.MigrateUp(ctx, st.Pool())
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(out, "schema is up to date")
		}
		for _, v := range applied {
			fmt.Fprintf(out, "applied %04d\n", v)
		}
	case "down":
		steps := 1
		if len(rest) > 1 {
			if steps, err = strconv.Atoi(rest[1]); err != nil || steps < 1 {
				return fmt.Errorf("down takes a positive number of steps, not %q", rest[1])
			}
		}
		reverted, err := store.MigrateDown(ctx, st.Pool(), steps)
		if err != nil {
			return err
		}
		for _, v := range reverted {
			fmt.Fprintf(out, "reverted %04d\n", v)
		}
	case "status":
		states, err := store.MigrationStatus(ctx, st.Pool())
		if err != nil {
			return err
		}
		for _, s := range states {
			state := "pending"
			switch {
			case s.Unknown:
				state = "applied (not in this build)"
			case s.Applied && s.AppliedAt != nil:
				state = "applied " + s.AppliedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(out, "%04d %-30s %s\n", s.Version, s.Name, state)
		}
	default:
		return fmt.Errorf("unknown migrate action %q: say up, down [N] or status", rest[0])
	}
	return nil
}

// runHealth asks a running API whether it is ready and prints its answer.
func runHealth(ctx context.Context, args []string, out io.Writer) error {
	var base string
	var timeout time.Duration
	cfg, _, err := app.LoadConfig("health", args, func(fs *flag.FlagSet) {
		fs.StringVar(&base, "url", "", "API base `URL` (default http://<server.addr>)")
		fs.DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	})
	if err != nil {
		return err
	}
	if base == "" {
		base = "http://" + cfg.Server.Addr
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health/ready", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not reachable: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	var body map[string]any
	if json.Unmarshal(raw, &body) == nil {
		raw, _ = json.Marshal(body)
	}
	fmt.Fprintln(out, string(raw))
	if resp.StatusCode != http.StatusOK {
		// The API names the dependencies that failed in the error message.
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("not ready (HTTP %d): %s", resp.StatusCode, e.Error.Message)
		}
		return fmt.Errorf("not ready (HTTP %d)", resp.StatusCode)
	}
	return nil
}
