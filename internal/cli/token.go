package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/incident-server/incident-server/internal/app"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/store"
)

// runToken mints user tokens: `token create --user U --role R --ttl D`
// prints one token on stdout, signed with the configured JWT secret (or,
// when none is configured, the dev stack's, so it works beside `make run`).
// With --login it prints a one-time login link for the web console
// instead, stored in Postgres (database.url) and valid for --ttl, or
// console.login_link_ttl when --ttl is not given.
func runToken(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("say create: token create [--login] --user NAME --role viewer|responder|admin [--ttl 12h]")
	}
	var user, role string
	var ttl time.Duration
	var login bool
	var fs *flag.FlagSet
	cfg, rest, err := app.LoadConfig("token create", args[1:], func(f *flag.FlagSet) {
		fs = f
		f.StringVar(&user, "user", "", "the token's subject: the `name` timelines record as the actor")
		f.StringVar(&role, "role", "", "viewer, responder or admin")
		f.DurationVar(&ttl, "ttl", 12*time.Hour, "how long the token is valid (with --login: the link; default console.login_link_ttl, at most 24h)")
		f.BoolVar(&login, "login", false, "print a one-time login link for the web console instead of a token")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return err
	}
	if user == "" {
		return errors.New("--user is required")
	}
	if login {
		ttlSet := false
		fs.Visit(func(f *flag.Flag) { ttlSet = ttlSet || f.Name == "ttl" })
		if !ttlSet {
			ttl = cfg.Console.LoginLinkTTL
		}
		st, err := store.Open(ctx, cfg.Database.URL, store.PoolOptions{MaxConns: 1, QueryExecMode: cfg.Database.QueryExecMode})
		if err != nil {
			return fmt.Errorf("connect to postgres: %w", err)
		}
		defer st.Close()
		link, err := app.MintLoginLink(ctx, st, app.ConsoleBase(cfg), user, r, ttl, "cli")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, link)
		return err
	}
	tokens, err := app.Tokens(cfg, true)
	if err != nil {
		return err
	}
	tok, err := tokens.Mint(user, r, ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, tok)
	return err
}
