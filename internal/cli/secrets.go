package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/app"
	"github.com/incident-server/incident-server/internal/secret"
	"github.com/incident-server/incident-server/internal/store"
)

// runSecrets manages the keyring that seals webhook URLs in Postgres:
// `secrets generate-key [-id ID]` prints a new secrets.keys entry;
// `secrets rotate` brings every stored value under the primary key.
func runSecrets(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("say generate-key [-id ID] or rotate")
	}
	switch args[0] {
	case "generate-key":
		return generateKey(args[1:], out)
	case "rotate":
		return rotateSecrets(ctx, args[1:], out)
	}
	return fmt.Errorf("unknown secrets action %q: say generate-key or rotate", args[0])
}

// generateKey prints "<id>:<base64 of 32 random bytes>". It reads no
// configuration: it runs before there is one.
func generateKey(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("secrets generate-key", flag.ContinueOnError)
	id := fs.String("id", "k"+time.Now().UTC().Format("20060102"),
		"the key's `ID`, stored with every value it seals: 1 to 32 letters, digits, '.', '_' or '-'")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	key, err := secret.GenerateKey(*id)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, key)
	return err
}

// rotateSecrets reseals what older keys sealed, seals what is stored in
// clear, and prints what it did. In development without secrets.keys it
// works on the dev stack's key, as `token create` does with its secret.
func rotateSecrets(ctx context.Context, args []string, out io.Writer) error {
	cfg, rest, err := app.LoadConfig("secrets rotate", args, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	keys, err := app.Keyring(cfg, cfg.Development())
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Database.URL, store.PoolOptions{MaxConns: 1, QueryExecMode: cfg.Database.QueryExecMode})
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer st.Close()
	st.SetKeyring(keys)
	res, err := st.RotateSecrets(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "webhook URLs under key %s: %d resealed from older keys, %d sealed (were in clear), %d already under it",
		keys.Primary(), res.Resealed, res.Sealed, res.Unchanged)
	if res.Hashed > 0 {
		fmt.Fprintf(out, "; %d uniqueness hashes filled in", res.Hashed)
	}
	fmt.Fprintln(out)
	if len(keys.KeyIDs()) > 1 {
		fmt.Fprintf(out, "every stored value is now under %s: the other keys (%s) can be removed from secrets.keys\n",
			keys.Primary(), strings.Join(keys.KeyIDs()[1:], ", "))
	}
	return nil
}
