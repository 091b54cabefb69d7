package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
)

// MaxOncallList caps ListUsers, ListPolicies and ListServices. On-call
// configuration is small; a list that reaches the cap is cut off.
const MaxOncallList = 500

const pgUniqueViolation = "23505"

// ID prefixes of the objects whose IDs the store assigns.
const (
	userIDPrefix    = "usr_"
	contactIDPrefix = "cm_"
	policyIDPrefix  = "pol_"
)

var idBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix and 26 lowercase base32 characters of 128 random
// bits: never colliding in practice, safe in URLs and in notification keys.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + idBase32.EncodeToString(b[:])
}

func pgErrorCode(err error) (*pgconn.PgError, bool) {
	return errors.AsType[*pgconn.PgError](err)
}

// userSelect reads users with their contact methods in one statement, so a
// user and its list come from one snapshot even while an update runs.
const userSelect = `
SELECT u.id, u.name, u.email, u.time_zone, u.role, u.created_at, u.updated_at,
	coalesce((
		SELECT json_agg(json_build_object(
			'id', c.id, 'user_id', c.user_id, 'type', c.type, 'label', c.label,
			'platform', c.platform, 'token', c.token, 'url', c.url, 'format', c.format, 'address', c.address)
			ORDER BY c.position, c.id)
		FROM contact_methods c WHERE c.user_id = u.id), '[]')
FROM users u`

const insertContact = `
INSERT INTO contact_methods (id, user_id, type, label, platform, token, url, url_hash, format, address, position, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12::timestamptz, now()))`

// CreateUser stores a new user and its contact methods. It assigns the IDs
// of the user and of every contact method (IDs in u are ignored) and the
// timestamps, and returns the user as stored. u should be normalized
// (oncall.User.Normalize); an invalid u, or one listing a device or webhook
// twice, gives an fault.Invalid error. An email another user has, in any
// case, gives an error of code fault.Conflict.
func (s *Store) CreateUser(ctx context.Context, u oncall.User) (oncall.User, error) {
	if err := checkUser(u); err != nil {
		return oncall.User{}, fail("create user", err)
	}
	u.ID = newID(userIDPrefix)
	cms := make([]oncall.ContactMethod, len(u.ContactMethods))
	for i, c := range u.ContactMethods {
		c.ID, c.UserID = newID(contactIDPrefix), u.ID
		cms[i] = c
	}
	u.ContactMethods = cms
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO users (id, name, email, time_zone, role) VALUES ($1, $2, $3, $4, $5)
			RETURNING created_at, updated_at`,
			u.ID, u.Name, u.Email, u.TimeZone, string(u.Role),
		).Scan(&u.CreatedAt, &u.UpdatedAt)
		if err != nil {
			return userWriteErr(u, err)
		}
		return s.insertContacts(ctx, tx, u, nil)
	})
	if err != nil {
		return oncall.User{}, fail("create user", err)
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// GetUser returns a user with its contact methods. The error is a
// fault.NotFound when it does not exist.
func (s *Store) GetUser(ctx context.Context, id string) (oncall.User, error) {
	rows, err := s.pool.Query(ctx, userSelect+` WHERE u.id = $1`, id)
	if err != nil {
		return oncall.User{}, fail(fmt.Sprintf("get user %s", id), err)
	}
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	if errors.Is(err, pgx.ErrNoRows) {
		return oncall.User{}, fmt.Errorf("get user %s: %w", id, fault.Missing("user"))
	}
	if err != nil {
		return oncall.User{}, fail(fmt.Sprintf("get user %s", id), err)
	}
	if u, err = s.OpenContacts(u); err != nil {
		return oncall.User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, nil
}

// GetUsers returns the users among ids that exist, with their contact
// methods, by ID. Missing IDs are absent from the map, not an error.
func (s *Store) GetUsers(ctx context.Context, ids []string) (map[string]oncall.User, error) {
	out := make(map[string]oncall.User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, userSelect+` WHERE u.id = ANY($1)`, ids)
	if err != nil {
		return nil, fail("get users", err)
	}
	users, err := pgx.CollectRows(rows, scanUser)
	if err != nil {
		return nil, fail("get users", err)
	}
	if err := s.openUsers(users); err != nil {
		return nil, fmt.Errorf("get users: %w", err)
	}
	for _, u := range users {
		out[u.ID] = u
	}
	return out, nil
}

// ListUsers returns up to MaxOncallList users with their contact methods,
// ordered by name, then ID.
func (s *Store) ListUsers(ctx context.Context) ([]oncall.User, error) {
	rows, err := s.pool.Query(ctx, userSelect+` ORDER BY u.name, u.id LIMIT $1`, MaxOncallList)
	if err != nil {
		return nil, fail("list users", err)
	}
	users, err := pgx.CollectRows(rows, scanUser)
	if err != nil {
		return nil, fail("list users", err)
	}
	if err := s.openUsers(users); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// UpdateUser replaces the fields of user u.ID and its whole list of contact
// methods in one transaction, and returns the user as stored. A contact
// method whose ID names one of this user's current methods keeps that ID;
// every other method gets a new one, and current methods not listed are
// deleted, with the notification rules that page them. Errors are those of CreateUser, and one of code fault.NotFound
// when the user does not exist.
func (s *Store) UpdateUser(ctx context.Context, u oncall.User) (oncall.User, error) {
	if err := checkUser(u); err != nil {
		return oncall.User{}, fail(fmt.Sprintf("update user %s", u.ID), err)
	}
	cms := make([]oncall.ContactMethod, len(u.ContactMethods))
	copy(cms, u.ContactMethods)
	u.ContactMethods = cms
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			UPDATE users SET name = $2, email = $3, time_zone = $4, role = $5, updated_at = now()
			WHERE id = $1
			RETURNING created_at, updated_at`,
			u.ID, u.Name, u.Email, u.TimeZone, string(u.Role),
		).Scan(&u.CreatedAt, &u.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Missing("user")
		}
		if err != nil {
			return userWriteErr(u, err)
		}
		// Deleting every method and inserting the new list, rather than
		// updating in place, lets a user swap tokens or URLs between methods
		// without tripping the unique indexes halfway.
		rows, err := tx.Query(ctx, `DELETE FROM contact_methods WHERE user_id = $1 RETURNING id, created_at`, u.ID)
		if err != nil {
			return fail("delete contact methods", err)
		}
		created := map[string]time.Time{}
		var id string
		var at time.Time
		if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error {
			created[id] = at
			return nil
		}); err != nil {
			return fail("delete contact methods", err)
		}
		kept := map[string]bool{}
		for i := range u.ContactMethods {
			c := &u.ContactMethods[i]
			if _, ok := created[c.ID]; !ok || kept[c.ID] {
				c.ID = newID(contactIDPrefix)
			}
			kept[c.ID] = true
			c.UserID = u.ID
		}
		if err := s.insertContacts(ctx, tx, u, created); err != nil {
			return err
		}
		// A rule of a method that is gone goes with it; the rules' foreign
		// key, checked at commit, holds the others to methods that stayed.
		if _, err := tx.Exec(ctx, `DELETE FROM notification_rules r WHERE r.user_id = $1
			AND NOT EXISTS (SELECT 1 FROM contact_methods c WHERE c.id = r.contact_method_id AND c.user_id = $1)`, u.ID); err != nil {
			return fail("delete rules of removed contact methods", err)
		}
		return nil
	})
	if err != nil {
		return oncall.User{}, fail(fmt.Sprintf("update user %s", u.ID), err)
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// DeleteUser deletes a user and its contact methods, past schedule
// overrides, calendar feed and handoff subscriptions. The error is a
// fault.NotFound when the user does not exist, and a fault.Conflict when an
// escalation policy targets the user, a schedule's rotation names them, or
// an override of theirs has not ended: remove them there first.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Policy writes hold FOR KEY SHARE on the users they target until
		// they commit (checkTargets). Locking the user first means such a
		// write either commits before this lock is granted, and the search
		// below (a new snapshot) finds it, or waits and then finds the user
		// gone.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Missing("user")
		}
		if err != nil {
			return fail("lock user", err)
		}
		// [{"targets":[{"type":"user","id":…}]}] matches every policy with
		// a step that lists the user, whatever the step's delay.
		var policyID string
		err = tx.QueryRow(ctx, `
			SELECT id FROM escalation_policies
			WHERE steps @> jsonb_build_array(jsonb_build_object('targets',
				jsonb_build_array(jsonb_build_object('type', $2::text, 'id', $1::text))))
			ORDER BY id LIMIT 1`, id, string(oncall.TargetUser)).Scan(&policyID)
		switch {
		case err == nil:
			return fault.Conflictf("user is a target of policy %s", policyID)
		case !errors.Is(err, pgx.ErrNoRows):
			return fail("find policies targeting user", err)
		}
		// Schedule and override writes hold FOR KEY SHARE on their users
		// too (checkMembers, CreateOverride). A member of a rotation, or a
		// user with an override still to come or running, is refused; past
		// overrides go with the user.
		var scheduleID string
		var until *time.Time
		err = tx.QueryRow(ctx, `
			SELECT s.id, NULL::timestamptz FROM schedules s
			WHERE s.layers @> jsonb_build_array(jsonb_build_object('members', jsonb_build_array($1::text)))
			UNION ALL
			(SELECT o.schedule_id, o.ends_at FROM schedule_overrides o
			WHERE o.user_id = $1 AND o.ends_at > now() ORDER BY o.ends_at)
			LIMIT 1`, id).Scan(&scheduleID, &until)
		switch {
		case err == nil && until == nil:
			return fault.Conflictf("user is a member of a rotation of schedule %s", scheduleID)
		case err == nil:
			return fault.Conflictf("user has an override in schedule %s until %s", scheduleID, until.UTC().Format(time.RFC3339))
		case !errors.Is(err, pgx.ErrNoRows):
			return fail("find schedules naming user", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id); err != nil {
			return fail("delete", err)
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Sprintf("delete user %s", id), err)
	}
	return nil
}

// checkUser validates u and rejects a device token, webhook URL or address
// listed twice, which the unique indexes would otherwise reject with less
// detail.
func checkUser(u oncall.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	seen := map[string]int{}
	for i, c := range u.ContactMethods {
		key, field := "push\x00"+c.Token, "token"
		switch {
		case c.Type == oncall.ContactWebhook:
			key, field = "webhook\x00"+c.URL, "url"
		case c.Type.Addressed():
			key, field = string(c.Type)+"\x00"+c.Address, "address"
		}
		if j, ok := seen[key]; ok {
			return fault.InvalidField(fmt.Sprintf("contact_methods[%d].%s", i, field), fmt.Sprintf("repeats contact_methods[%d]", j))
		}
		seen[key] = i
	}
	return nil
}

func userWriteErr(u oncall.User, err error) error {
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgUniqueViolation && pgErr.ConstraintName == "users_email_key" {
		return fault.Conflictf("a user with email %s exists", u.Email)
	}
	return fail("write user", err)
}

// insertContacts inserts u's contact methods in list order, webhook URLs
// sealed. created holds the creation times of methods that keep their ID.
func (s *Store) insertContacts(ctx context.Context, tx pgx.Tx, u oncall.User, created map[string]time.Time) error {
	if len(u.ContactMethods) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for i, c := range u.ContactMethods {
		var at *time.Time
		if t, ok := created[c.ID]; ok {
			at = &t
		}
		url, hash := c.URL, (*string)(nil)
		if c.Type == oncall.ContactWebhook {
			sealed, err := s.sealURL(c.ID, c.URL)
			if err != nil {
				return err
			}
			h := URLHash(c.URL)
			url, hash = sealed, &h
		}
		batch.Queue(insertContact, c.ID, u.ID, string(c.Type), c.Label, string(c.Platform),
			c.Token, url, hash, string(c.Format), c.Address, i, at)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgUniqueViolation {
			return fault.Conflictf("a contact method is listed twice")
		}
		return fail("insert contact methods", err)
	}
	return nil
}

func scanUser(row pgx.CollectableRow) (oncall.User, error) {
	var u oncall.User
	if err := row.Scan(&u.ID, &u.Name, &u.Email, &u.TimeZone, &u.Role, &u.CreatedAt, &u.UpdatedAt, &u.ContactMethods); err != nil {
		return oncall.User{}, err
	}
	if u.ContactMethods == nil {
		u.ContactMethods = []oncall.ContactMethod{}
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

const policyColumns = `id, name, steps, repeat, version, created_at, updated_at`

// CreatePolicy stores a new escalation policy at version 1, assigning its ID
// and timestamps, and returns it as stored. p should be normalized; an
// invalid p gives an fault.Invalid error, and so does a target naming no
// user (field steps[i].targets[j].id), in which case nothing is written.
func (s *Store) CreatePolicy(ctx context.Context, p oncall.Policy) (oncall.Policy, error) {
	if err := p.Validate(); err != nil {
		return oncall.Policy{}, fail("create policy", err)
	}
	steps, err := json.Marshal(p.Steps)
	if err != nil {
		return oncall.Policy{}, fail("create policy: encode steps", err)
	}
	p.ID = newID(policyIDPrefix)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkTargets(ctx, tx, p); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO escalation_policies (id, name, steps, repeat, version) VALUES ($1, $2, $3, $4, 1)
			RETURNING version, created_at, updated_at`,
			p.ID, p.Name, string(steps), p.Repeat,
		).Scan(&p.Version, &p.CreatedAt, &p.UpdatedAt)
	})
	if err != nil {
		return oncall.Policy{}, fail("create policy", err)
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

// GetPolicy returns one policy. The error is a fault.NotFound when it does not
// exist.
func (s *Store) GetPolicy(ctx context.Context, id string) (oncall.Policy, error) {
	return queryOne(ctx, s, "get policy "+id, "escalation policy", scanPolicy, `SELECT `+policyColumns+` FROM escalation_policies WHERE id = $1`, id)
}

// ListPolicies returns up to MaxOncallList policies ordered by name, then ID.
func (s *Store) ListPolicies(ctx context.Context) ([]oncall.Policy, error) {
	return queryAll(ctx, s, "list policies", scanPolicy, `SELECT `+policyColumns+` FROM escalation_policies ORDER BY name, id LIMIT $1`, MaxOncallList)
}

// UpdatePolicy replaces the name, steps and repeat count of policy p.ID,
// raises its version by one and returns it as stored. Incidents already
// open keep the snapshot they took. Errors are those of CreatePolicy, and
// one of code fault.NotFound when the policy does not exist.
func (s *Store) UpdatePolicy(ctx context.Context, p oncall.Policy) (oncall.Policy, error) {
	if err := p.Validate(); err != nil {
		return oncall.Policy{}, fail(fmt.Sprintf("update policy %s", p.ID), err)
	}
	steps, err := json.Marshal(p.Steps)
	if err != nil {
		return oncall.Policy{}, fail(fmt.Sprintf("update policy %s: encode steps", p.ID), err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			UPDATE escalation_policies
			SET name = $2, steps = $3, repeat = $4, version = version + 1, updated_at = now()
			WHERE id = $1
			RETURNING version, created_at, updated_at`,
			p.ID, p.Name, string(steps), p.Repeat,
		).Scan(&p.Version, &p.CreatedAt, &p.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Missing("escalation policy")
		}
		if err != nil {
			return err
		}
		return checkTargets(ctx, tx, p)
	})
	if err != nil {
		return oncall.Policy{}, fail(fmt.Sprintf("update policy %s", p.ID), err)
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

// DeletePolicy deletes a policy. The error is a fault.NotFound when it does not
// exist, and a fault.Conflict when a service uses it.
func (s *Store) DeletePolicy(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var serviceID string
		err := tx.QueryRow(ctx, `SELECT id FROM services WHERE escalation_policy_id = $1 ORDER BY id LIMIT 1`, id).Scan(&serviceID)
		switch {
		case err == nil:
			return fault.Conflictf("policy is used by service %s", serviceID)
		case !errors.Is(err, pgx.ErrNoRows):
			return fail("find services using policy", err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM escalation_policies WHERE id = $1`, id)
		if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
			// A service took the policy up after the check above.
			return fault.Conflictf("policy is used by a service")
		}
		if err != nil {
			return fail("delete", err)
		}
		if tag.RowsAffected() == 0 {
			return fault.Missing("escalation policy")
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Sprintf("delete policy %s", id), err)
	}
	return nil
}

// checkTargets fails with a ValidationError naming the first target that is
// not a user or a schedule, as its type says. It holds FOR KEY SHARE on the
// users and schedules found until tx ends, so none of them can be deleted
// before the policy is committed (see DeleteUser, DeleteSchedule).
func checkTargets(ctx context.Context, tx pgx.Tx, p oncall.Policy) error {
	found := map[oncall.TargetType]map[string]bool{}
	for _, q := range []struct {
		typ oncall.TargetType
		sql string
		ids []string
	}{
		{oncall.TargetUser, `SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR KEY SHARE`, p.UserIDs()},
		{oncall.TargetSchedule, `SELECT id FROM schedules WHERE id = ANY($1) ORDER BY id FOR KEY SHARE`, p.ScheduleIDs()},
	} {
		typ := q.typ
		found[typ] = map[string]bool{}
		if len(q.ids) == 0 {
			continue
		}
		rows, err := tx.Query(ctx, q.sql, q.ids)
		if err != nil {
			return fail("check targets", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fail("check targets", err)
		}
		for _, id := range ids {
			found[typ][id] = true
		}
	}
	for i, st := range p.Steps {
		for j, t := range st.Targets {
			if !found[t.Type][t.ID] {
				return fault.InvalidField(fmt.Sprintf("steps[%d].targets[%d].id", i, j), "no such "+string(t.Type))
			}
		}
	}
	return nil
}

func scanPolicy(row pgx.CollectableRow) (oncall.Policy, error) {
	var p oncall.Policy
	if err := row.Scan(&p.ID, &p.Name, &p.Steps, &p.Repeat, &p.Version, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return oncall.Policy{}, err
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

const serviceColumns = `id, name, description, coalesce(escalation_policy_id, ''), ack_timeout_ms, auto_resolve, breach_user_ids, require_runbook_steps, created_at, updated_at`

// CreateService stores a new service under the caller's ID and returns it as
// stored; the acknowledgement timeout is kept in whole milliseconds. sv
// should be normalized; an invalid sv, or a policy ID naming no policy
// (field escalation_policy_id), gives an fault.Invalid error. An ID in
// use gives an error of code fault.Conflict.
func (s *Store) CreateService(ctx context.Context, sv oncall.Service) (oncall.Service, error) {
	if err := sv.Validate(); err != nil {
		return oncall.Service{}, fail("create service", err)
	}
	ackMS := sv.AckTimeout.D().Milliseconds()
	sv.AckTimeout = oncall.Duration(time.Duration(ackMS) * time.Millisecond)
	autoResolve := sv.ResolvesItself()
	sv.AutoResolve = &autoResolve
	if err := s.checkUsers(ctx, "breach_user_ids", sv.BreachUserIDs); err != nil {
		return oncall.Service{}, err
	}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO services (id, name, description, escalation_policy_id, ack_timeout_ms, auto_resolve, breach_user_ids,
			require_runbook_steps)
		VALUES ($1, $2, $3, nullif($4, ''), $5, $6, $7, $8)
		RETURNING created_at, updated_at`,
		sv.ID, sv.Name, sv.Description, sv.EscalationPolicyID, ackMS, sv.ResolvesItself(), breachIDs(sv), sv.RequireRunbookSteps,
	).Scan(&sv.CreatedAt, &sv.UpdatedAt)
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgUniqueViolation {
		return oncall.Service{}, fmt.Errorf("create service: %w", fault.Conflictf("a service with id %s exists", sv.ID))
	}
	if err != nil {
		return oncall.Service{}, fmt.Errorf("create service: %w", serviceWriteErr(err))
	}
	sv.CreatedAt, sv.UpdatedAt = sv.CreatedAt.UTC(), sv.UpdatedAt.UTC()
	return sv, nil
}

// GetService returns one service. The error is a fault.NotFound when it does
// not exist.
func (s *Store) GetService(ctx context.Context, id string) (oncall.Service, error) {
	return queryOne(ctx, s, "get service "+id, "service", scanService, `SELECT `+serviceColumns+` FROM services WHERE id = $1`, id)
}

// ListServices returns up to MaxOncallList services ordered by name, then ID.
func (s *Store) ListServices(ctx context.Context) ([]oncall.Service, error) {
	return queryAll(ctx, s, "list services", scanService, `SELECT `+serviceColumns+` FROM services ORDER BY name, id LIMIT $1`, MaxOncallList)
}

// UpdateService replaces the name, description, policy and acknowledgement
// timeout of service sv.ID and returns it as stored. Errors are those of
// CreateService, and one of code fault.NotFound when the service does not
// exist.
func (s *Store) UpdateService(ctx context.Context, sv oncall.Service) (oncall.Service, error) {
	if err := sv.Validate(); err != nil {
		return oncall.Service{}, fail(fmt.Sprintf("update service %s", sv.ID), err)
	}
	ackMS := sv.AckTimeout.D().Milliseconds()
	sv.AckTimeout = oncall.Duration(time.Duration(ackMS) * time.Millisecond)
	autoResolve := sv.ResolvesItself()
	sv.AutoResolve = &autoResolve
	if err := s.checkUsers(ctx, "breach_user_ids", sv.BreachUserIDs); err != nil {
		return oncall.Service{}, err
	}
	err := s.pool.QueryRow(ctx, `
		UPDATE services
		SET name = $2, description = $3, escalation_policy_id = nullif($4, ''), ack_timeout_ms = $5,
			auto_resolve = $6, breach_user_ids = $7, require_runbook_steps = $8, updated_at = now()
		WHERE id = $1
		RETURNING created_at, updated_at`,
		sv.ID, sv.Name, sv.Description, sv.EscalationPolicyID, ackMS, sv.ResolvesItself(), breachIDs(sv), sv.RequireRunbookSteps,
	).Scan(&sv.CreatedAt, &sv.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return oncall.Service{}, fmt.Errorf("update service %s: %w", sv.ID, fault.Missing("service"))
	}
	if err != nil {
		return oncall.Service{}, fmt.Errorf("update service %s: %w", sv.ID, serviceWriteErr(err))
	}
	sv.CreatedAt, sv.UpdatedAt = sv.CreatedAt.UTC(), sv.UpdatedAt.UTC()
	return sv, nil
}

// DeleteService deletes a service; its incidents stay. The error is a
// fault.NotFound when it does not exist.
func (s *Store) DeleteService(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM services WHERE id = $1`, id)
	if err != nil {
		return fail(fmt.Sprintf("delete service %s", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete service %s: %w", id, fault.Missing("service"))
	}
	return nil
}

// breachIDs is the service's breach contacts as the column stores them.
func breachIDs(sv oncall.Service) []string {
	if sv.BreachUserIDs == nil {
		return []string{}
	}
	return sv.BreachUserIDs
}

// checkUsers fails with a validation error on field when an ID names no user.
func (s *Store) checkUsers(ctx context.Context, field string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	users, err := s.GetUsers(ctx, ids)
	if err != nil {
		return err
	}
	for i, id := range ids {
		if _, ok := users[id]; !ok {
			return fault.InvalidField(fmt.Sprintf("%s[%d]", field, i), "no such user")
		}
	}
	return nil
}

// serviceWriteErr turns the one foreign key of services, to its policy, into
// a validation error.
func serviceWriteErr(err error) error {
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
		return fault.InvalidField("escalation_policy_id", "no such policy")
	}
	return err
}

func scanService(row pgx.CollectableRow) (oncall.Service, error) {
	var sv oncall.Service
	var ackMS int64
	var autoResolve bool
	if err := row.Scan(&sv.ID, &sv.Name, &sv.Description, &sv.EscalationPolicyID, &ackMS, &autoResolve, &sv.BreachUserIDs,
		&sv.RequireRunbookSteps, &sv.CreatedAt, &sv.UpdatedAt); err != nil {
		return oncall.Service{}, err
	}
	if len(sv.BreachUserIDs) == 0 {
		sv.BreachUserIDs = nil
	}
	sv.AutoResolve = &autoResolve
	sv.AckTimeout = oncall.Duration(time.Duration(ackMS) * time.Millisecond)
	sv.CreatedAt, sv.UpdatedAt = sv.CreatedAt.UTC(), sv.UpdatedAt.UTC()
	return sv, nil
}

// EscalationFor returns the escalation an incident of serviceID runs: the
// service's policy as it is now, at its current version, with the service's
// acknowledgement timeout. A service that does not exist or has no policy
// gives an empty Snapshot and no error: its incidents are recorded but page
// nobody.
func (s *Store) EscalationFor(ctx context.Context, serviceID string) (oncall.Snapshot, error) {
	var ackMS int64
	var policyID, name *string
	var steps []oncall.Step
	var repeat *int
	var version *int64
	var breach []string
	err := s.pool.QueryRow(ctx, `
		SELECT s.ack_timeout_ms, s.breach_user_ids, p.id, p.name, p.steps, p.repeat, p.version
		FROM services s LEFT JOIN escalation_policies p ON p.id = s.escalation_policy_id
		WHERE s.id = $1`, serviceID,
	).Scan(&ackMS, &breach, &policyID, &name, &steps, &repeat, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return oncall.Snapshot{}, nil
	}
	if err != nil {
		return oncall.Snapshot{}, fail(fmt.Sprintf("escalation for service %s", serviceID), err)
	}
	if len(breach) == 0 {
		breach = nil
	}
	if policyID == nil {
		return oncall.Snapshot{BreachUserIDs: breach}, nil
	}
	p := oncall.Policy{ID: *policyID, Name: *name, Steps: steps, Repeat: *repeat, Version: *version}
	snap := oncall.SnapshotOf(p, oncall.Duration(time.Duration(ackMS)*time.Millisecond))
	snap.BreachUserIDs = breach
	return snap, nil
}
