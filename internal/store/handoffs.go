package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
)

const subscriptionColumns = `schedule_id, user_id, minutes_before, created_at, updated_at`

// PutHandoffSubscription creates or replaces user sub.UserID's request to
// be told sub.MinutesBefore minutes before their shifts in schedule
// sub.ScheduleID start, and returns it as stored with created true when it
// is new. Errors: fault.Invalid for a lead time out of range or a user
// that does not exist (field user_id); fault.NotFound when the schedule
// does not exist.
func (s *Store) PutHandoffSubscription(ctx context.Context, sub oncall.HandoffSubscription) (oncall.HandoffSubscription, bool, error) {
	op := fmt.Sprintf("put handoff subscription %s/%s", sub.ScheduleID, sub.UserID)
	if err := sub.Validate(); err != nil {
		return oncall.HandoffSubscription{}, false, fail(op, err)
	}
	var created bool
	err := s.pool.QueryRow(ctx, `
		INSERT INTO handoff_subscriptions (schedule_id, user_id, minutes_before) VALUES ($1, $2, $3)
		ON CONFLICT (schedule_id, user_id) DO UPDATE SET minutes_before = EXCLUDED.minutes_before, updated_at = now()
		RETURNING created_at, updated_at, xmax = 0`,
		sub.ScheduleID, sub.UserID, sub.MinutesBefore).Scan(&sub.CreatedAt, &sub.UpdatedAt, &created)
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
		if pgErr.ConstraintName == "handoff_subscriptions_user_id_fkey" {
			return oncall.HandoffSubscription{}, false, fmt.Errorf("%s: %w", op, fault.InvalidField("user_id", "no such user"))
		}
		return oncall.HandoffSubscription{}, false, fmt.Errorf("%s: %w", op, fault.Missing("schedule"))
	}
	if err != nil {
		return oncall.HandoffSubscription{}, false, fail(op, err)
	}
	sub.CreatedAt, sub.UpdatedAt = sub.CreatedAt.UTC(), sub.UpdatedAt.UTC()
	return sub, created, nil
}

// ListHandoffSubscriptions returns a schedule's handoff subscriptions by
// user ID.
func (s *Store) ListHandoffSubscriptions(ctx context.Context, scheduleID string) ([]oncall.HandoffSubscription, error) {
	return queryAll(ctx, s, "list handoff subscriptions of "+scheduleID, scanSubscription,
		`SELECT `+subscriptionColumns+` FROM handoff_subscriptions WHERE schedule_id = $1 ORDER BY user_id LIMIT $2`,
		scheduleID, MaxOncallList)
}

// GetHandoffSubscription returns one subscription; the error is a
// fault.NotFound when the user has none in the schedule.
func (s *Store) GetHandoffSubscription(ctx context.Context, scheduleID, userID string) (oncall.HandoffSubscription, error) {
	return queryOne(ctx, s, fmt.Sprintf("get handoff subscription %s/%s", scheduleID, userID), "handoff subscription",
		scanSubscription, `SELECT `+subscriptionColumns+` FROM handoff_subscriptions WHERE schedule_id = $1 AND user_id = $2`,
		scheduleID, userID)
}

// DeleteHandoffSubscription stops a user's handoff notices of a schedule.
// The error is a fault.NotFound when there was no subscription.
func (s *Store) DeleteHandoffSubscription(ctx context.Context, scheduleID, userID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM handoff_subscriptions WHERE schedule_id = $1 AND user_id = $2`, scheduleID, userID)
	if err != nil {
		return fail(fmt.Sprintf("delete handoff subscription %s/%s", scheduleID, userID), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete handoff subscription %s/%s: %w", scheduleID, userID, fault.Missing("handoff subscription"))
	}
	return nil
}

// SubscribedSchedules lists the IDs of the schedules anyone subscribed to
// handoff notices of: those that need a HandoffWorkflow.
func (s *Store) SubscribedSchedules(ctx context.Context) ([]string, error) {
	return queryAll(ctx, s, "list subscribed schedules", pgx.RowTo[string],
		`SELECT DISTINCT schedule_id FROM handoff_subscriptions ORDER BY schedule_id`)
}

func scanSubscription(row pgx.CollectableRow) (oncall.HandoffSubscription, error) {
	var sub oncall.HandoffSubscription
	if err := row.Scan(&sub.ScheduleID, &sub.UserID, &sub.MinutesBefore, &sub.CreatedAt, &sub.UpdatedAt); err != nil {
		return oncall.HandoffSubscription{}, err
	}
	sub.CreatedAt, sub.UpdatedAt = sub.CreatedAt.UTC(), sub.UpdatedAt.UTC()
	return sub, nil
}

// HandoffKey is the business key of one handoff notice delivery: the
// schedule, the user told, the start of their shift and the contact method.
// It is the notice's idempotency key: however often the notice is planned
// or its activity retried, it is sent once per contact method.
type HandoffKey struct {
	ScheduleID      string
	UserID          string
	ShiftStart      time.Time
	ContactMethodID string
}

// String returns "schedule/user/shift start (RFC 3339, UTC)/contact", the
// ledger's primary key.
func (k HandoffKey) String() string {
	return k.ScheduleID + "/" + k.UserID + "/" + k.ShiftStart.UTC().Format(time.RFC3339) + "/" + k.ContactMethodID
}

// DeliveryID names the delivery outside the engine, as
// NotificationKey.DeliveryID does for pages: the same for every attempt.
func (k HandoffKey) DeliveryID() string {
	sum := sha256.Sum256([]byte("handoff/" + k.String()))
	return hex.EncodeToString(sum[:16])
}

// HandoffDelivery is one row of the handoff ledger.
type HandoffDelivery struct {
	Key       HandoffKey
	Channel   string
	Status    string
	Detail    string
	Attempts  int
	CreatedAt time.Time
	UpdatedAt time.Time
}

const handoffDeliveryColumns = `schedule_id, user_id, shift_start, contact_method_id, channel, status, detail, attempts, created_at, updated_at`

// ClaimHandoff records that the notice under key is about to be sent on
// channel, as ClaimNotification does for pages: the first claim returns
// claimed=true (send); a later one returns the row with attempts raised
// and claimed=false (do not send again once sent or failed).
func (s *Store) ClaimHandoff(ctx context.Context, key HandoffKey, channel string) (HandoffDelivery, bool, error) {
	op := "claim handoff notice " + key.String()
	switch {
	case key.ScheduleID == "" || key.UserID == "" || key.ShiftStart.IsZero():
		return HandoffDelivery{}, false, fmt.Errorf("%s: schedule, user and shift start are required", op)
	case channel != "push" && channel != "webhook" && channel != "log":
		return HandoffDelivery{}, false, fmt.Errorf("%s: unknown channel %q", op, channel)
	}
	rows, err := s.pool.Query(ctx, `
		INSERT INTO handoff_deliveries (key, schedule_id, user_id, shift_start, contact_method_id, channel)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (key) DO UPDATE SET attempts = handoff_deliveries.attempts + 1, updated_at = now()
		RETURNING `+handoffDeliveryColumns+`, xmax = 0`,
		key.String(), key.ScheduleID, key.UserID, key.ShiftStart, key.ContactMethodID, channel)
	if err != nil {
		return HandoffDelivery{}, false, fail(op, err)
	}
	var claimed bool
	d, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (HandoffDelivery, error) {
		var d HandoffDelivery
		err := row.Scan(&d.Key.ScheduleID, &d.Key.UserID, &d.Key.ShiftStart, &d.Key.ContactMethodID, &d.Channel,
			&d.Status, &d.Detail, &d.Attempts, &d.CreatedAt, &d.UpdatedAt, &claimed)
		return d, err
	})
	if err != nil {
		return HandoffDelivery{}, false, fail(op, err)
	}
	d.Key.ShiftStart, d.CreatedAt, d.UpdatedAt = d.Key.ShiftStart.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return d, claimed, nil
}

// FinishHandoff records the outcome of a claimed notice: status is
// NotificationSent or NotificationFailed, detail the provider's answer.
func (s *Store) FinishHandoff(ctx context.Context, key HandoffKey, status, detail string) error {
	op := "finish handoff notice " + key.String()
	if status != NotificationSent && status != NotificationFailed {
		return fmt.Errorf("%s: status must be %s or %s, not %q", op, NotificationSent, NotificationFailed, status)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE handoff_deliveries SET status = $2, detail = $3, updated_at = now() WHERE key = $1`,
		key.String(), status, truncateUTF8(detail, MaxNotificationDetail))
	if err != nil {
		return fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, fault.Missing("handoff notice"))
	}
	return nil
}

// ListHandoffDeliveries returns the ledger of a schedule's notices for
// shifts starting in [from, to), oldest first.
func (s *Store) ListHandoffDeliveries(ctx context.Context, scheduleID string, from, to time.Time) ([]HandoffDelivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+handoffDeliveryColumns+` FROM handoff_deliveries
		WHERE schedule_id = $1 AND shift_start >= $2 AND shift_start < $3 ORDER BY shift_start, key LIMIT $4`,
		scheduleID, from, to, MaxOncallList)
	if err != nil {
		return nil, fail("list handoff notices of "+scheduleID, err)
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (HandoffDelivery, error) {
		var d HandoffDelivery
		err := row.Scan(&d.Key.ScheduleID, &d.Key.UserID, &d.Key.ShiftStart, &d.Key.ContactMethodID, &d.Channel,
			&d.Status, &d.Detail, &d.Attempts, &d.CreatedAt, &d.UpdatedAt)
		d.Key.ShiftStart, d.CreatedAt, d.UpdatedAt = d.Key.ShiftStart.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
		return d, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fail("list handoff notices of "+scheduleID, err)
	}
	return ds, nil
}
