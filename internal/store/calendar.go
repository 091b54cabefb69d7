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

// CalendarFeed is an iCalendar feed of one schedule's shifts or of one
// user's shifts in every schedule (exactly one of ScheduleID and UserID).
// Its URL carries a token,
//
//	cal_<26 characters>.<52 characters>
//
// that CreateCalendarFeed returns once and that cannot be read back.
type CalendarFeed struct {
	ID         string    `json:"id"`
	ScheduleID string    `json:"schedule_id,omitempty"`
	UserID     string    `json:"user_id,omitempty"`
	CreatedBy  string    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

const feedColumns = `id, coalesce(schedule_id, ''), coalesce(user_id, ''), created_by, created_at`

// CreateCalendarFeed makes the feed of f.ScheduleID or f.UserID and
// returns it with its token. A feed the schedule or user already had is
// replaced in the same transaction: its token stops working at once
// (rotation). The error is a fault.NotFound when the schedule or user does
// not exist.
func (s *Store) CreateCalendarFeed(ctx context.Context, f CalendarFeed) (CalendarFeed, string, error) {
	op := "create calendar feed"
	noun := "schedule"
	if f.UserID != "" {
		noun = "user"
	}
	if (f.ScheduleID == "") == (f.UserID == "") {
		return CalendarFeed{}, "", fmt.Errorf("%s: give a schedule or a user", op)
	}
	secret, hash := newKeySecret()
	f.ID = newID(feedIDPrefix)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM calendar_feeds WHERE schedule_id = nullif($1, '') OR user_id = nullif($2, '')`,
			f.ScheduleID, f.UserID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO calendar_feeds (id, schedule_id, user_id, secret_hash, created_by)
			VALUES ($1, nullif($2, ''), nullif($3, ''), $4, $5) RETURNING created_at`,
			f.ID, f.ScheduleID, f.UserID, hash[:], f.CreatedBy).Scan(&f.CreatedAt)
		if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
			return fault.Missing(noun)
		}
		return err
	})
	if err != nil {
		return CalendarFeed{}, "", fail(op, err)
	}
	f.CreatedAt = f.CreatedAt.UTC()
	return f, f.ID + "." + secret, nil
}

// DeleteCalendarFeed revokes the feed of a schedule or a user (one of the
// two IDs is ""). The error is a fault.NotFound when it has none.
func (s *Store) DeleteCalendarFeed(ctx context.Context, scheduleID, userID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM calendar_feeds WHERE schedule_id = nullif($1, '') OR user_id = nullif($2, '')`,
		scheduleID, userID)
	if err != nil {
		return fail("delete calendar feed", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete calendar feed: %w", fault.Missing("calendar feed"))
	}
	return nil
}

// AuthenticateCalendarFeed returns the feed a token opens. A token that is
// malformed, unknown, revoked or replaced gives a fault.NotFound that says
// nothing more (the URL is the credential: a wrong one names no feed);
// other errors are the database's.
func (s *Store) AuthenticateCalendarFeed(ctx context.Context, token string) (CalendarFeed, error) {
	missing := fault.New(fault.NotFound, "no such calendar feed: its URL may have been replaced by a newer one")
	m := feedFormat.FindStringSubmatch(strings.TrimSpace(token))
	if m == nil {
		return CalendarFeed{}, missing
	}
	var f CalendarFeed
	var hash []byte
	err := s.pool.QueryRow(ctx, `SELECT `+feedColumns+`, secret_hash FROM calendar_feeds WHERE id = $1`, m[1]).
		Scan(&f.ID, &f.ScheduleID, &f.UserID, &f.CreatedBy, &f.CreatedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return CalendarFeed{}, missing
	}
	if err != nil {
		return CalendarFeed{}, fail("authenticate calendar feed", err)
	}
	if !secretMatches(m[2], hash) {
		return CalendarFeed{}, missing
	}
	f.CreatedAt = f.CreatedAt.UTC()
	return f, nil
}
