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
)

// runToken mints user tokens: `token create --user U --role R --ttl D`
// prints one token on stdout, signed with the configured JWT secret (or,
// when none is configured, the dev stack's, so it works beside `make run`).
func runToken(_ context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("say create: token create --user NAME --role viewer|responder|admin [--ttl 12h]")
	}
	var user, role string
	var ttl time.Duration
	cfg, rest, err := app.LoadConfig("token create", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "the token's subject: the `name` timelines record as the actor")
		fs.StringVar(&role, "role", "", "viewer, responder or admin")
		fs.DurationVar(&ttl, "ttl", 12*time.Hour, "how long the token is valid")
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
