package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
)

// Console sign-in: one-time login links and the sessions they (or a pasted
// user token) open. Like API keys, a link's token and a session's cookie
// are "<id>.<secret>" with a 256-bit secret of which only the sha256 is
// stored, found by primary key and compared in constant time.

const (
	loginLinkIDPrefix = "ll_"
	sessionIDPrefix   = "cs_"
)

var (
	loginLinkFormat = keyFormat(loginLinkIDPrefix)
	sessionFormat   = keyFormat(sessionIDPrefix)
)

// LoginLink is a one-time link's metadata. Its token is returned once, by
// CreateLoginLink.
type LoginLink struct {
	ID        string     `json:"id"`
	Subject   string     `json:"user"`
	Role      string     `json:"role"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
}

// NewLoginLink is what a link is minted for: who signs in with it, with
// which role (checked by the caller), until when, and who minted it.
type NewLoginLink struct {
	Subject   string
	Role      string
	ExpiresAt time.Time
	CreatedBy string
}

// CreateLoginLink stores a link and returns it with, this one time, its
// token (ll_….…).
func (s *Store) CreateLoginLink(ctx context.Context, in NewLoginLink) (LoginLink, string, error) {
	secret, hash := newKeySecret()
	l := LoginLink{ID: newID(loginLinkIDPrefix), Subject: in.Subject, Role: in.Role, CreatedBy: in.CreatedBy, ExpiresAt: in.ExpiresAt}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO login_links (id, secret_hash, subject, role, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING created_at`,
		l.ID, hash[:], l.Subject, l.Role, l.CreatedBy, l.ExpiresAt,
	).Scan(&l.CreatedAt)
	if err != nil {
		return LoginLink{}, "", fail("create login link", err)
	}
	l.CreatedAt, l.ExpiresAt = l.CreatedAt.UTC(), l.ExpiresAt.UTC()
	return l, l.ID + "." + secret, nil
}

// Session is a signed-in console user, as the authentication middleware
// sees it.
type Session struct {
	ID        string    `json:"id"`
	Subject   string    `json:"user"`
	Role      string    `json:"role"`
	Method    string    `json:"method"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// How a session began.
const (
	SessionByLoginLink = "login_link"
	SessionByToken     = "token"
)

// NewSession is a session to open for a user who proved who they are some
// other way (a user token).
type NewSession struct {
	Subject   string
	Role      string
	Method    string
	ExpiresAt time.Time
}

// CreateSession stores a session and returns it with, this one time, the
// cookie value (cs_….…) that authenticates it.
func (s *Store) CreateSession(ctx context.Context, in NewSession) (Session, string, error) {
	return s.insertSession(ctx, s.pool, in, "")
}

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) insertSession(ctx context.Context, q queryRower, in NewSession, link string) (Session, string, error) {
	secret, hash := newKeySecret()
	ses := Session{ID: newID(sessionIDPrefix), Subject: in.Subject, Role: in.Role, Method: in.Method, ExpiresAt: in.ExpiresAt}
	err := q.QueryRow(ctx, `
		INSERT INTO console_sessions (id, secret_hash, subject, role, method, login_link, expires_at)
		VALUES ($1, $2, $3, $4, $5, nullif($6, ''), $7)
		RETURNING created_at`,
		ses.ID, hash[:], ses.Subject, ses.Role, ses.Method, link, ses.ExpiresAt,
	).Scan(&ses.CreatedAt)
	if err != nil {
		return Session{}, "", fail("create session", err)
	}
	ses.CreatedAt, ses.ExpiresAt = ses.CreatedAt.UTC(), ses.ExpiresAt.UTC()
	return ses, ses.ID + "." + secret, nil
}

// RedeemLoginLink exchanges a link's token for a session that lasts ttl,
// in one transaction: the link is marked used, so it opens one session
// only, even when two requests present it at once. An unknown, wrong,
// used or expired token is an error of code fault.Unauthorized that says
// no more; other errors are the database's.
func (s *Store) RedeemLoginLink(ctx context.Context, token string, ttl time.Duration) (Session, string, error) {
	unauthorized := fault.New(fault.Unauthorized, "this login link is unknown, used or expired: ask for a new one")
	m := loginLinkFormat.FindStringSubmatch(strings.TrimSpace(token))
	if m == nil {
		return Session{}, "", unauthorized
	}
	id, secret := m[1], m[2]
	var ses Session
	var cookie string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var subject, role string
		var hash []byte
		// FOR UPDATE serializes two redemptions of one link: the second
		// finds used_at set.
		err := tx.QueryRow(ctx, `SELECT subject, role, secret_hash FROM login_links
			WHERE id = $1 AND used_at IS NULL AND expires_at > now() FOR UPDATE`, id).Scan(&subject, &role, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return unauthorized
		}
		if err != nil {
			return err
		}
		if !secretMatches(secret, hash) {
			return unauthorized
		}
		if _, err := tx.Exec(ctx, `UPDATE login_links SET used_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		ses, cookie, err = s.insertSession(ctx, tx, NewSession{
			Subject: subject, Role: role, Method: SessionByLoginLink, ExpiresAt: time.Now().Add(ttl),
		}, id)
		return err
	})
	if err != nil {
		return Session{}, "", fail("redeem login link", err)
	}
	return ses, cookie, nil
}

// AuthenticateSession returns the session a cookie value names when it is
// known, matches, and is neither revoked nor expired. Any other value is
// an error of code fault.Unauthorized; other errors are the database's.
// It refreshes last_used_at at most once a minute.
func (s *Store) AuthenticateSession(ctx context.Context, cookie string) (Session, error) {
	unauthorized := fault.New(fault.Unauthorized, "the console session has ended: sign in again")
	m := sessionFormat.FindStringSubmatch(cookie)
	if m == nil {
		return Session{}, unauthorized
	}
	id, secret := m[1], m[2]
	var ses Session
	var hash []byte
	var revoked, lastUsed *time.Time
	var now time.Time
	err := s.pool.QueryRow(ctx, `SELECT id, subject, role, method, created_at, expires_at, revoked_at, last_used_at, secret_hash, now()
		FROM console_sessions WHERE id = $1`, id).
		Scan(&ses.ID, &ses.Subject, &ses.Role, &ses.Method, &ses.CreatedAt, &ses.ExpiresAt, &revoked, &lastUsed, &hash, &now)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, unauthorized
	}
	if err != nil {
		return Session{}, fail("authenticate session", err)
	}
	if !secretMatches(secret, hash) || revoked != nil || !now.Before(ses.ExpiresAt) {
		return Session{}, unauthorized
	}
	if err := s.recordKeyUse(ctx, "console_sessions", id, &lastUsed); err != nil {
		return Session{}, fail("authenticate session", err)
	}
	ses.CreatedAt, ses.ExpiresAt = ses.CreatedAt.UTC(), ses.ExpiresAt.UTC()
	return ses, nil
}

// RevokeSession ends a session at once. Revoking a revoked or unknown
// session succeeds: signing out twice is not an error.
func (s *Store) RevokeSession(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE console_sessions SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id); err != nil {
		return fail(fmt.Sprintf("revoke session %s", id), err)
	}
	return nil
}

// PurgeSessions deletes login links and sessions that expired before
// cutoff: they can no longer authenticate anyone.
func (s *Store) PurgeSessions(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at < $1`, cutoff)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `DELETE FROM login_links WHERE expires_at < $1`, cutoff)
		if err != nil {
			return err
		}
		n += tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fail("purge sessions", err)
	}
	return n, nil
}
