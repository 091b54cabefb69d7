package secret

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DevKeyFile is the name of the key DevKey keeps in its directory.
const DevKeyFile = "secrets-key"

// DevKey returns the keyring entry kept in dir/secrets-key, creating it
// ("dev:<base64 of 32 random bytes>", readable by its owner only) on first
// use. It lets a development stack seal and open webhook URLs across its
// restarts without any setup; it is no key for a deployment.
func DevKey(dir string) (string, error) {
	path := filepath.Join(dir, DevKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		return string(bytes.TrimSpace(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read dev secrets key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	key, err := GenerateKey("dev")
	if err != nil {
		return "", err
	}
	// Written aside (CreateTemp makes it 0600) and linked into place, so a
	// concurrent reader never sees a half-written file and only one key
	// ever wins.
	tmp, err := os.CreateTemp(dir, ".secrets-key-*")
	if err != nil {
		return "", fmt.Errorf("create dev secrets key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(key + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write dev secrets key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write dev secrets key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return DevKey(dir)
	} else if err != nil {
		return "", fmt.Errorf("create dev secrets key: %w", err)
	}
	return key, nil
}
