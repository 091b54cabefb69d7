package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
)

// ReplyCode maps an SMS page's reply code, on the number it was sent to,
// to the page: which incident and user it paged, in which delivery.
type ReplyCode struct {
	// Number is the paged number, E.164.
	Number string
	// Code is the delivery's reply code (ackcode.Code), lowercase.
	Code       string
	IncidentID string
	UserID     string
	DeliveryID string
}

// RecordReplyCode stores c before its SMS is sent, so a reply that comes
// back at once finds it. Recording the same page again (a retried send)
// changes nothing. The error is a fault.NotFound when the incident does not
// exist.
func (s *Store) RecordReplyCode(ctx context.Context, c ReplyCode) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sms_reply_codes (number, code, incident_id, user_id, delivery_id)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, c.Number, c.Code, c.IncidentID, c.UserID, c.DeliveryID)
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
		return fmt.Errorf("record reply code: %w", fault.Missing("incident"))
	}
	if err != nil {
		return fail("record reply code", err)
	}
	return nil
}

// PendingReplies returns the pages sent to number whose incident is still
// active, newest first: those with code when code is set, every one
// otherwise. The caller acts on a reply only when they name one incident
// and one user.
func (s *Store) PendingReplies(ctx context.Context, number, code string) ([]ReplyCode, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.number, r.code, r.incident_id, r.user_id, r.delivery_id
		FROM sms_reply_codes r JOIN incidents i ON i.id = r.incident_id
		WHERE r.number = $1 AND ($2 = '' OR r.code = $2) AND i.status <> 'resolved'
		ORDER BY r.created_at DESC, r.incident_id, r.user_id LIMIT 50`, number, code)
	if err != nil {
		return nil, fail("find pending replies", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ReplyCode])
	if err != nil {
		return nil, fail("find pending replies", err)
	}
	return out, nil
}

// UseAckNonce marks an acknowledge link's nonce used, for incidentID and
// userID. It returns false when the nonce was used already: the link must
// be refused. The error is a fault.NotFound when the incident does not
// exist.
func (s *Store) UseAckNonce(ctx context.Context, nonce, incidentID, userID string) (bool, error) {
	var got string
	err := s.pool.QueryRow(ctx, `INSERT INTO ack_link_uses (nonce, incident_id, user_id) VALUES ($1, $2, $3)
		ON CONFLICT (nonce) DO NOTHING RETURNING nonce`, nonce, incidentID, userID).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
		return false, fmt.Errorf("use acknowledge link: %w", fault.Missing("incident"))
	}
	if err != nil {
		return false, fail("use acknowledge link", err)
	}
	return true, nil
}

// ReleaseAckNonce makes a nonce usable again: the acknowledgement it was
// marked for did not go through (the engine was unavailable), so the link
// may be tried again.
func (s *Store) ReleaseAckNonce(ctx context.Context, nonce string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM ack_link_uses WHERE nonce = $1`, nonce); err != nil {
		return fail("release acknowledge link", err)
	}
	return nil
}
