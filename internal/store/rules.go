package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
)

// GetNotificationRules returns a user's notification rules, each urgency's
// ordered by delay; empty lists when the user has none. The error is a
// fault.NotFound when the user does not exist.
func (s *Store) GetNotificationRules(ctx context.Context, userID string) (oncall.NotificationRules, error) {
	op := "get notification rules of " + userID
	var rules oncall.NotificationRules
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		rules, err = readRules(ctx, tx, userID)
		return err
	})
	if err != nil {
		return oncall.NotificationRules{}, fail(op, err)
	}
	return rules, nil
}

// readRules reads a user's rules inside tx: a fault.NotFound when the user
// does not exist.
func readRules(ctx context.Context, tx pgx.Tx, userID string) (oncall.NotificationRules, error) {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, userID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return oncall.NotificationRules{}, fault.Missing("user")
	}
	if err != nil {
		return oncall.NotificationRules{}, err
	}
	rules := oncall.NotificationRules{UserID: userID, High: []oncall.NotificationRule{}, Low: []oncall.NotificationRule{}}
	rows, err := tx.Query(ctx, `SELECT urgency, contact_method_id, delay_ms, updated_at FROM notification_rules
		WHERE user_id = $1 ORDER BY urgency, position`, userID)
	if err != nil {
		return oncall.NotificationRules{}, err
	}
	var urgency, cm string
	var delayMS int64
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&urgency, &cm, &delayMS, &at}, func() error {
		r := oncall.NotificationRule{ContactMethodID: cm, Delay: oncall.Duration(time.Duration(delayMS) * time.Millisecond)}
		if oncall.Urgency(urgency) == oncall.UrgencyHigh {
			rules.High = append(rules.High, r)
		} else {
			rules.Low = append(rules.Low, r)
		}
		if at.After(rules.UpdatedAt) {
			rules.UpdatedAt = at.UTC()
		}
		return nil
	})
	if err != nil {
		return oncall.NotificationRules{}, err
	}
	return rules, nil
}

// SetNotificationRules replaces every rule of user r.UserID with r's, in one
// transaction, and returns them as stored: ordered by delay, delays kept in
// whole milliseconds. r should be normalized and valid; an invalid r, or a
// rule naming a contact method that is not the user's (field
// high[i].contact_method_id), gives a fault.Invalid error and changes
// nothing. The error is a fault.NotFound when the user does not exist.
func (s *Store) SetNotificationRules(ctx context.Context, r oncall.NotificationRules) (oncall.NotificationRules, error) {
	op := "set notification rules of " + r.UserID
	if err := r.Validate(); err != nil {
		return oncall.NotificationRules{}, fail(op, err)
	}
	var out oncall.NotificationRules
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The user's row is locked so that an update of its contact methods
		// (which deletes the rules of methods it removes) runs before or
		// after this, never between the check and the insert.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, r.UserID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Missing("user")
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM contact_methods WHERE user_id = $1`, r.UserID)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		own := map[string]bool{}
		for _, id := range ids {
			own[id] = true
		}
		for _, l := range []struct {
			name  string
			rules []oncall.NotificationRule
		}{{"high", r.High}, {"low", r.Low}} {
			for i, rule := range l.rules {
				if !own[rule.ContactMethodID] {
					return fault.InvalidField(fmt.Sprintf("%s[%d].contact_method_id", l.name, i), "is not one of this user's contact methods")
				}
			}
		}
		r.Order()
		if _, err := tx.Exec(ctx, `DELETE FROM notification_rules WHERE user_id = $1`, r.UserID); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for _, u := range []oncall.Urgency{oncall.UrgencyHigh, oncall.UrgencyLow} {
			for i, rule := range r.For(u) {
				batch.Queue(`INSERT INTO notification_rules (user_id, urgency, position, contact_method_id, delay_ms)
					VALUES ($1, $2, $3, $4, $5)`, r.UserID, string(u), i, rule.ContactMethodID, rule.Delay.D().Milliseconds())
			}
		}
		if batch.Len() > 0 {
			if err := tx.SendBatch(ctx, batch).Close(); err != nil {
				return err
			}
		}
		out, err = readRules(ctx, tx, r.UserID)
		if err != nil {
			return err
		}
		if out.UpdatedAt.IsZero() {
			// No rules left: the answer still says when they were set.
			out.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		}
		return nil
	})
	if err != nil {
		return oncall.NotificationRules{}, fail(op, err)
	}
	return out, nil
}

// UserBySlackMember returns the user a Slack member is linked to: the one
// whose slack contact method is addressed to the member's ID. The error is
// a fault.NotFound when no user is, and a fault.Conflict when several are
// (nobody can tell which one pressed).
func (s *Store) UserBySlackMember(ctx context.Context, memberID string) (oncall.User, error) {
	op := "find the user of slack member " + memberID
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT user_id FROM contact_methods
		WHERE type = 'slack' AND address = $1 ORDER BY user_id LIMIT 2`, memberID)
	if err != nil {
		return oncall.User{}, fail(op, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return oncall.User{}, fail(op, err)
	}
	switch len(ids) {
	case 0:
		return oncall.User{}, fmt.Errorf("%s: %w", op, fault.Missing("user"))
	case 1:
		return s.GetUser(ctx, ids[0])
	}
	return oncall.User{}, fmt.Errorf("%s: %w", op, fault.Conflictf("slack member %s is linked to more than one user", memberID))
}

// UserByEmail returns the user with email address email, whatever its case.
// The error is a fault.NotFound when there is none.
func (s *Store) UserByEmail(ctx context.Context, email string) (oncall.User, error) {
	op := "find the user with an email address"
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id FROM users WHERE lower(email) = lower($1)`, email).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return oncall.User{}, fmt.Errorf("%s: %w", op, fault.Missing("user"))
	}
	if err != nil {
		return oncall.User{}, fail(op, err)
	}
	return s.GetUser(ctx, id)
}
