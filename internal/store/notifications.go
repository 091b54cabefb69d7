package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
)

// Notification statuses. A notification is claimed before it is sent and
// finished as sent or failed once the provider has answered.
const (
	NotificationClaimed = "claimed"
	NotificationSent    = "sent"
	NotificationFailed  = "failed"
)

// MaxNotificationDetail caps Notification.Detail, in bytes.
const MaxNotificationDetail = 2048

// NotificationKey is the business key of one page: an incident, its
// escalation step and round, the user paged and the contact method used
// (empty when the user had none and the page was only logged), and the
// user's notification rule that sent it. Activities retry under the same
// key, so it is the idempotency key of sending.
type NotificationKey struct {
	IncidentID  string
	Step, Round int
	// Page numbers the incident's pages, 1 for the first. A step can be paged
	// more than once in a round (a snooze ended, the incident was
	// reassigned): each page is a delivery of its own.
	Page            int
	UserID          string
	ContactMethodID string
	// Rule numbers the user's notification rule of the delivery, from 1
	// (one contact method may be paged by two rules, at two delays); 0 for
	// a page to every contact method at once.
	Rule int
}

// DeliveryID names the delivery outside the engine: 32 hex characters of a
// hash of the key, the same for every attempt. It travels with the message
// (push data and collapse ID, webhook body), so a device or a receiver that
// gets a retry of a delivery it already has can drop it.
func (k NotificationKey) DeliveryID() string {
	sum := sha256.Sum256([]byte(k.String()))
	return hex.EncodeToString(sum[:16])
}

// String returns "incident/step/round/user/contact", the ledger's primary
// key, with "#page" after the round when the page is numbered and "#rN"
// after the contact method for rule N.
func (k NotificationKey) String() string {
	round := strconv.Itoa(k.Round)
	if k.Page > 0 {
		round += "#" + strconv.Itoa(k.Page)
	}
	s := k.IncidentID + "/" + strconv.Itoa(k.Step) + "/" + round + "/" + k.UserID + "/" + k.ContactMethodID
	if k.Rule > 0 {
		s += "#r" + strconv.Itoa(k.Rule)
	}
	return s
}

// check rejects keys whose string form would be ambiguous or that name no
// incident.
func (k NotificationKey) check() error {
	switch {
	case k.IncidentID == "":
		return errors.New("notification key has no incident id")
	case k.Step < 0 || k.Round < 0 || k.Page < 0 || k.Rule < 0:
		return errors.New("notification key has a negative step, round, page or rule")
	case strings.Contains(k.IncidentID, "/") || strings.Contains(k.UserID, "/") || strings.Contains(k.ContactMethodID, "/"):
		return errors.New("notification key part contains '/'")
	case strings.Contains(k.ContactMethodID, "#"):
		return errors.New("notification key contact method contains '#'")
	}
	return nil
}

// Notification is one row of the delivery ledger.
type Notification struct {
	Key NotificationKey
	// Channel is one of Channels.
	Channel string
	// Status is NotificationClaimed, NotificationSent or NotificationFailed.
	Status string
	// Detail is the provider's answer or the error, at most
	// MaxNotificationDetail bytes.
	Detail string
	// Attempts counts the claims of the key: 1 for the first.
	Attempts  int
	CreatedAt time.Time
	UpdatedAt time.Time
}

const notificationColumns = `incident_id, step, round, page, user_id, contact_method_id, rule, channel, status, detail, attempts, created_at, updated_at`

// Channels are the ledger's delivery channels.
var Channels = []string{"push", "webhook", "log", "email", "sms", "voice", "slack"}

// ClaimLease is how long a claim on a page being sent keeps other attempts
// of the same delivery from sending it: the sender renews it
// (RenewNotification) while the provider is answering, so a later attempt
// only takes a claim over once its sender has stopped renewing, that is
// has died or hung, not while it is still sending (two attempts of one
// activity overlap when a slow worker misses its heartbeat).
const ClaimLease = 6 * time.Second

// ClaimHeldError is ClaimNotification's answer when another attempt holds
// the claim and is still sending: the caller waits Wait and claims again.
type ClaimHeldError struct {
	Key  NotificationKey
	Wait time.Duration
}

func (e *ClaimHeldError) Error() string {
	return fmt.Sprintf("notification %s is being sent by another attempt (lease ends in %s)", e.Key, e.Wait)
}

// ClaimNotification records that the page under key is about to be sent on
// channel (one of Channels). The first claim of a key inserts it with
// status claimed and returns claimed=true: the caller sends, renewing the
// claim with RenewNotification while it does. A later claim of a key whose
// claim is still within its ClaimLease returns a *ClaimHeldError. Every
// other later claim returns the existing row with claimed=false and
// attempts raised by one (taking a lapsed claim over); the caller must not
// send again when its status is sent, and decides by its own policy when it
// is failed or still claimed (an earlier attempt that stopped between
// claiming and finishing). The error is a fault.NotFound when the incident
// does not exist.
func (s *Store) ClaimNotification(ctx context.Context, key NotificationKey, channel string) (Notification, bool, error) {
	if err := key.check(); err != nil {
		return Notification{}, false, fail("claim notification", err)
	}
	if !slices.Contains(Channels, channel) {
		return Notification{}, false, fmt.Errorf("claim notification %s: unknown channel %q", key, channel)
	}
	rows, err := s.pool.Query(ctx, `
		INSERT INTO notifications (key, incident_id, step, round, page, user_id, contact_method_id, rule, channel, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (key) DO NOTHING
		RETURNING `+notificationColumns,
		key.String(), key.IncidentID, key.Step, key.Round, key.Page, key.UserID, key.ContactMethodID, key.Rule, channel, NotificationClaimed)
	if err != nil {
		return Notification{}, false, fail(fmt.Sprintf("claim notification %s", key), err)
	}
	n, err := pgx.CollectExactlyOneRow(rows, scanNotification)
	if err == nil {
		return n, true, nil
	}
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
		return Notification{}, false, fmt.Errorf("claim notification %s: %w", key, fault.Missing("incident"))
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Notification{}, false, fail(fmt.Sprintf("claim notification %s", key), err)
	}
	// The row is locked first, so of two attempts claiming at once the
	// second sees the first's takeover as a fresh claim.
	rows, err = s.pool.Query(ctx, `
		WITH old AS (
			SELECT key, status = $3 AND updated_at > now() - $2::bigint * interval '1 millisecond' AS held,
				(EXTRACT(EPOCH FROM updated_at - now()) * 1000)::bigint + $2 AS wait_ms
			FROM notifications WHERE key = $1 FOR UPDATE)
		UPDATE notifications n
		SET attempts = n.attempts + CASE WHEN old.held THEN 0 ELSE 1 END,
			updated_at = CASE WHEN old.held THEN n.updated_at ELSE now() END
		FROM old WHERE n.key = old.key
		RETURNING `+qualified("n", notificationColumns)+`, old.held, old.wait_ms`,
		key.String(), ClaimLease.Milliseconds(), NotificationClaimed)
	if err != nil {
		return Notification{}, false, fail(fmt.Sprintf("claim notification %s", key), err)
	}
	var held bool
	var waitMS int64
	n, err = pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (Notification, error) {
		var n Notification
		err := row.Scan(&n.Key.IncidentID, &n.Key.Step, &n.Key.Round, &n.Key.Page, &n.Key.UserID, &n.Key.ContactMethodID,
			&n.Key.Rule, &n.Channel, &n.Status, &n.Detail, &n.Attempts, &n.CreatedAt, &n.UpdatedAt, &held, &waitMS)
		n.CreatedAt, n.UpdatedAt = n.CreatedAt.UTC(), n.UpdatedAt.UTC()
		return n, err
	})
	if err == nil && held {
		return n, false, &ClaimHeldError{Key: key, Wait: time.Duration(max(waitMS, 1)) * time.Millisecond}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		// The incident, and its ledger with it, was deleted in between.
		return Notification{}, false, fmt.Errorf("claim notification %s: %w", key, fault.Missing("notification"))
	}
	if err != nil {
		return Notification{}, false, fail(fmt.Sprintf("claim notification %s", key), err)
	}
	return n, false, nil
}

// RenewNotification extends the ClaimLease of key's claim while its sender
// is still sending. It does nothing to a finished page.
func (s *Store) RenewNotification(ctx context.Context, key NotificationKey) error {
	_, err := s.pool.Exec(ctx, `UPDATE notifications SET updated_at = now() WHERE key = $1 AND status = $2`,
		key.String(), NotificationClaimed)
	if err != nil {
		return fail(fmt.Sprintf("renew notification %s", key), err)
	}
	return nil
}

// qualified prefixes each of a comma-separated column list with alias.
func qualified(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// FinishNotification records the outcome of a claimed page: status is
// NotificationSent or NotificationFailed, detail the provider's answer or
// the error, cut to MaxNotificationDetail bytes. The error is a fault.NotFound
// when the key was never claimed.
func (s *Store) FinishNotification(ctx context.Context, key NotificationKey, status, detail string) error {
	if status != NotificationSent && status != NotificationFailed {
		return fmt.Errorf("finish notification %s: status must be %s or %s, not %q", key, NotificationSent, NotificationFailed, status)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE notifications SET status = $2, detail = $3, updated_at = now()
		WHERE key = $1`, key.String(), status, truncateUTF8(detail, MaxNotificationDetail))
	if err != nil {
		return fail(fmt.Sprintf("finish notification %s", key), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("finish notification %s: %w", key, fault.Missing("notification"))
	}
	return nil
}

// ListNotifications returns an incident's ledger, oldest first (by creation
// time, then key). An incident without notifications, or that does not
// exist, gives an empty list.
func (s *Store) ListNotifications(ctx context.Context, incidentID string) ([]Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE incident_id = $1 ORDER BY created_at, key`, incidentID)
	if err != nil {
		return nil, fail(fmt.Sprintf("list notifications %s", incidentID), err)
	}
	ns, err := pgx.CollectRows(rows, scanNotification)
	if err != nil {
		return nil, fail(fmt.Sprintf("list notifications %s", incidentID), err)
	}
	return ns, nil
}

func scanNotification(row pgx.CollectableRow) (Notification, error) {
	var n Notification
	err := row.Scan(&n.Key.IncidentID, &n.Key.Step, &n.Key.Round, &n.Key.Page, &n.Key.UserID, &n.Key.ContactMethodID,
		&n.Key.Rule, &n.Channel, &n.Status, &n.Detail, &n.Attempts, &n.CreatedAt, &n.UpdatedAt)
	if err != nil {
		return Notification{}, err
	}
	n.CreatedAt, n.UpdatedAt = n.CreatedAt.UTC(), n.UpdatedAt.UTC()
	return n, nil
}

// truncateUTF8 returns s as valid UTF-8 without NUL bytes (Postgres text
// rejects both), cut to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
