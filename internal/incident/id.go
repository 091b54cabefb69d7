package incident

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a new incident ID: "inc_" and 26 characters, 48 bits of
// milliseconds since the epoch then 80 random bits, so IDs sort by creation
// time and never collide in practice. It reads crypto/rand: workflow code
// must not call it (the workflows derive their incidents' IDs from
// workflow time; see package contract).
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails
	return "inc_" + idEncoding.EncodeToString(b[:])
}
