package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/schedule"
)

// ID prefixes of schedules, overrides and calendar feeds.
const (
	scheduleIDPrefix = "sch_"
	overrideIDPrefix = "ovr_"
	feedIDPrefix     = "cal_"
)

var feedFormat = keyFormat(feedIDPrefix)

const scheduleColumns = `id, name, description, time_zone, layers, version, created_at, updated_at`

// CreateSchedule stores a new schedule at version 1, assigning its ID and
// timestamps, and returns it as stored. sch should be normalized; an
// invalid sch gives a fault.Invalid error, and so does a layer member
// naming no user (field layers[i].members[j]), in which case nothing is
// written.
func (s *Store) CreateSchedule(ctx context.Context, sch oncall.Schedule) (oncall.Schedule, error) {
	if err := sch.Validate(); err != nil {
		return oncall.Schedule{}, fail("create schedule", err)
	}
	layers, err := json.Marshal(sch.Layers)
	if err != nil {
		return oncall.Schedule{}, fail("create schedule: encode layers", err)
	}
	sch.ID = newID(scheduleIDPrefix)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkMembers(ctx, tx, sch); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO schedules (id, name, description, time_zone, layers, version) VALUES ($1, $2, $3, $4, $5, 1)
			RETURNING version, created_at, updated_at`,
			sch.ID, sch.Name, sch.Description, sch.TimeZone, string(layers),
		).Scan(&sch.Version, &sch.CreatedAt, &sch.UpdatedAt)
	})
	if err != nil {
		return oncall.Schedule{}, fail("create schedule", err)
	}
	sch.CreatedAt, sch.UpdatedAt = sch.CreatedAt.UTC(), sch.UpdatedAt.UTC()
	return sch, nil
}

// GetSchedule returns one schedule, without its overrides. The error is a
// fault.NotFound when it does not exist.
func (s *Store) GetSchedule(ctx context.Context, id string) (oncall.Schedule, error) {
	return queryOne(ctx, s, "get schedule "+id, "schedule", scanSchedule, `SELECT `+scheduleColumns+` FROM schedules WHERE id = $1`, id)
}

// ListSchedules returns up to MaxOncallList schedules ordered by name, then ID.
func (s *Store) ListSchedules(ctx context.Context) ([]oncall.Schedule, error) {
	return queryAll(ctx, s, "list schedules", scanSchedule, `SELECT `+scheduleColumns+` FROM schedules ORDER BY name, id LIMIT $1`, MaxOncallList)
}

// UpdateSchedule replaces the name, description, time zone and layers of
// schedule sch.ID, raises its version by one and returns it as stored. Its
// overrides stay. Errors are those of CreateSchedule, and one of code
// fault.NotFound when the schedule does not exist.
func (s *Store) UpdateSchedule(ctx context.Context, sch oncall.Schedule) (oncall.Schedule, error) {
	if err := sch.Validate(); err != nil {
		return oncall.Schedule{}, fail(fmt.Sprintf("update schedule %s", sch.ID), err)
	}
	layers, err := json.Marshal(sch.Layers)
	if err != nil {
		return oncall.Schedule{}, fail(fmt.Sprintf("update schedule %s: encode layers", sch.ID), err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			UPDATE schedules
			SET name = $2, description = $3, time_zone = $4, layers = $5, version = version + 1, updated_at = now()
			WHERE id = $1
			RETURNING version, created_at, updated_at`,
			sch.ID, sch.Name, sch.Description, sch.TimeZone, string(layers),
		).Scan(&sch.Version, &sch.CreatedAt, &sch.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Missing("schedule")
		}
		if err != nil {
			return err
		}
		return checkMembers(ctx, tx, sch)
	})
	if err != nil {
		return oncall.Schedule{}, fail(fmt.Sprintf("update schedule %s", sch.ID), err)
	}
	sch.CreatedAt, sch.UpdatedAt = sch.CreatedAt.UTC(), sch.UpdatedAt.UTC()
	return sch, nil
}

// DeleteSchedule deletes a schedule with its overrides, calendar feed and
// handoff subscriptions. The error is a fault.NotFound when it does not
// exist, and a fault.Conflict when an escalation policy targets it: remove
// it from the policy first.
func (s *Store) DeleteSchedule(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Policy writes hold FOR KEY SHARE on the schedules they target
		// until they commit (checkTargets), as they do on users: see
		// DeleteUser for why locking first makes the search below complete.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM schedules WHERE id = $1 FOR UPDATE`, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Missing("schedule")
		}
		if err != nil {
			return fail("lock schedule", err)
		}
		var policyID string
		err = tx.QueryRow(ctx, `
			SELECT id FROM escalation_policies
			WHERE steps @> jsonb_build_array(jsonb_build_object('targets',
				jsonb_build_array(jsonb_build_object('type', $2::text, 'id', $1::text))))
			ORDER BY id LIMIT 1`, id, string(oncall.TargetSchedule)).Scan(&policyID)
		switch {
		case err == nil:
			return fault.Conflictf("schedule is a target of policy %s", policyID)
		case !errors.Is(err, pgx.ErrNoRows):
			return fail("find policies targeting schedule", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM schedules WHERE id = $1`, id); err != nil {
			return fail("delete", err)
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Sprintf("delete schedule %s", id), err)
	}
	return nil
}

// checkMembers fails with a validation error naming the first layer member
// that is not a user. Like checkTargets it holds FOR KEY SHARE on the users
// found until tx ends, so none of them is deleted before the schedule is
// committed.
func checkMembers(ctx context.Context, tx pgx.Tx, sch oncall.Schedule) error {
	rows, err := tx.Query(ctx, `SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR KEY SHARE`, sch.MemberIDs())
	if err != nil {
		return fail("check members", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fail("check members", err)
	}
	found := make(map[string]bool, len(ids))
	for _, id := range ids {
		found[id] = true
	}
	for i, l := range sch.Layers {
		for j, m := range l.Members {
			if !found[m] {
				return fault.InvalidField(fmt.Sprintf("layers[%d].members[%d]", i, j), "no such user")
			}
		}
	}
	return nil
}

func scanSchedule(row pgx.CollectableRow) (oncall.Schedule, error) {
	var sch oncall.Schedule
	if err := row.Scan(&sch.ID, &sch.Name, &sch.Description, &sch.TimeZone, &sch.Layers, &sch.Version, &sch.CreatedAt, &sch.UpdatedAt); err != nil {
		return oncall.Schedule{}, err
	}
	sch.CreatedAt, sch.UpdatedAt = sch.CreatedAt.UTC(), sch.UpdatedAt.UTC()
	return sch, nil
}

// ScheduleIn returns schedule id ready for computation over [from, to):
// its zone and layers, and its overrides that overlap the window, in one
// statement (one snapshot). The error is a fault.NotFound when the schedule
// does not exist, and a fault.Invalid (field "to") when the window holds
// more overrides than a computation takes (schedule.MaxOverrides).
func (s *Store) ScheduleIn(ctx context.Context, id string, from, to time.Time) (schedule.Schedule, error) {
	op := "read schedule " + id
	var sch schedule.Schedule
	err := s.pool.QueryRow(ctx, `
		SELECT s.id, s.name, s.time_zone, s.layers, s.version, coalesce((
			SELECT json_agg(json_build_object('id', o.id, 'user_id', o.user_id, 'replaces', o.replaces,
				'start', o.starts_at, 'end', o.ends_at) ORDER BY o.starts_at, o.id)
			FROM (SELECT * FROM schedule_overrides
				WHERE schedule_id = s.id AND ends_at > $2 AND starts_at < $3
				ORDER BY starts_at, id LIMIT $4) o), '[]')
		FROM schedules s WHERE s.id = $1`, id, from, to, schedule.MaxOverrides+1,
	).Scan(&sch.ID, &sch.Name, &sch.TimeZone, &sch.Layers, &sch.Version, &sch.Overrides)
	if errors.Is(err, pgx.ErrNoRows) {
		return schedule.Schedule{}, fmt.Errorf("%s: %w", op, fault.Missing("schedule"))
	}
	if err != nil {
		return schedule.Schedule{}, fail(op, err)
	}
	if len(sch.Overrides) > schedule.MaxOverrides {
		return schedule.Schedule{}, fmt.Errorf("%s: %w", op, fault.InvalidField("to",
			fmt.Sprintf("the window holds more than %d overrides; ask for a shorter one", schedule.MaxOverrides)))
	}
	for i := range sch.Overrides {
		sch.Overrides[i].Normalize()
	}
	return sch, nil
}

// SchedulesOfUser returns, ready for computation over [from, to) as
// ScheduleIn does, every schedule whose layers name the user or that has
// an override of the user in the window, ordered by name, then ID.
func (s *Store) SchedulesOfUser(ctx context.Context, userID string, from, to time.Time) ([]schedule.Schedule, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id FROM schedules s
		WHERE s.layers @> jsonb_build_array(jsonb_build_object('members', jsonb_build_array($1::text)))
			OR EXISTS (SELECT 1 FROM schedule_overrides o
				WHERE o.schedule_id = s.id AND o.user_id = $1 AND o.ends_at > $2 AND o.starts_at < $3)
		ORDER BY name, id LIMIT $4`, userID, from, to, MaxOncallList)
	if err != nil {
		return nil, fail("schedules of user "+userID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fail("schedules of user "+userID, err)
	}
	out := make([]schedule.Schedule, 0, len(ids))
	for _, id := range ids {
		sch, err := s.ScheduleIn(ctx, id, from, to)
		if fault.Is(err, fault.NotFound) {
			continue // deleted in between
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sch)
	}
	return out, nil
}

const overrideColumns = `id, schedule_id, user_id, replaces, starts_at, ends_at, created_by, created_at`

// CreateOverride stores an override of schedule o.ScheduleID, assigning its
// ID and creation time, and returns it as stored. o should be normalized.
// Errors: fault.Invalid for an invalid override or a user_id or replaces
// naming no user; fault.NotFound when the schedule does not exist;
// fault.Conflict naming the existing override it overlaps. Overrides of one
// schedule are written one at a time (a lock on the schedule's row), so two
// overlapping ones can never both be stored.
func (s *Store) CreateOverride(ctx context.Context, o oncall.Override) (oncall.Override, error) {
	op := "create override of schedule " + o.ScheduleID
	if err := o.Validate(); err != nil {
		return oncall.Override{}, fail(op, err)
	}
	o.ID = newID(overrideIDPrefix)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM schedules WHERE id = $1 FOR UPDATE`, o.ScheduleID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Missing("schedule")
		}
		if err != nil {
			return fail("lock schedule", err)
		}
		want := []string{o.UserID}
		if o.Replaces != "" {
			want = append(want, o.Replaces)
		}
		rows, err := tx.Query(ctx, `SELECT id FROM users WHERE id = ANY($1) FOR KEY SHARE`, want)
		if err != nil {
			return fail("check users", err)
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fail("check users", err)
		}
		for i, field := range []string{"user_id", "replaces"}[:len(want)] {
			if !slices.Contains(found, want[i]) {
				return fault.InvalidField(field, "no such user")
			}
		}
		rows, err = tx.Query(ctx, `SELECT `+overrideColumns+` FROM schedule_overrides
			WHERE schedule_id = $1 AND ends_at > $2 AND starts_at < $3 ORDER BY starts_at, id`,
			o.ScheduleID, o.Start, o.End)
		if err != nil {
			return fail("find overlapping overrides", err)
		}
		overlapping, err := pgx.CollectRows(rows, scanOverride)
		if err != nil {
			return fail("find overlapping overrides", err)
		}
		existing := make([]schedule.Override, len(overlapping))
		for i, e := range overlapping {
			existing[i] = e.Override
		}
		if err := oncall.ScheduleError(schedule.ValidateOverride(existing, o.Override)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO schedule_overrides (id, schedule_id, user_id, replaces, starts_at, ends_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`,
			o.ID, o.ScheduleID, o.UserID, o.Replaces, o.Start, o.End, o.CreatedBy).Scan(&o.CreatedAt)
	})
	if err != nil {
		return oncall.Override{}, fail(op, err)
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return o, nil
}

// GetOverride returns one override of a schedule. The error is a
// fault.NotFound when either does not exist.
func (s *Store) GetOverride(ctx context.Context, scheduleID, id string) (oncall.Override, error) {
	return queryOne(ctx, s, "get override "+id, "override", scanOverride,
		`SELECT `+overrideColumns+` FROM schedule_overrides WHERE schedule_id = $1 AND id = $2`, scheduleID, id)
}

// ListOverrides returns a schedule's overrides that overlap [from, to),
// soonest first, at most schedule.MaxOverrides. The error is a
// fault.NotFound when the schedule does not exist.
func (s *Store) ListOverrides(ctx context.Context, scheduleID string, from, to time.Time) ([]oncall.Override, error) {
	op := "list overrides of schedule " + scheduleID
	var out []oncall.Override
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM schedules WHERE id = $1`, scheduleID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Missing("schedule")
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+overrideColumns+` FROM schedule_overrides
			WHERE schedule_id = $1 AND ends_at > $2 AND starts_at < $3 ORDER BY starts_at, id LIMIT $4`,
			scheduleID, from, to, schedule.MaxOverrides)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanOverride)
		return err
	})
	if err != nil {
		return nil, fail(op, err)
	}
	return out, nil
}

// DeleteOverride deletes one override of a schedule. The error is a
// fault.NotFound when either does not exist.
func (s *Store) DeleteOverride(ctx context.Context, scheduleID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM schedule_overrides WHERE schedule_id = $1 AND id = $2`, scheduleID, id)
	if err != nil {
		return fail(fmt.Sprintf("delete override %s", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete override %s: %w", id, fault.Missing("override"))
	}
	return nil
}

func scanOverride(row pgx.CollectableRow) (oncall.Override, error) {
	var o oncall.Override
	if err := row.Scan(&o.ID, &o.ScheduleID, &o.UserID, &o.Replaces, &o.Start, &o.End, &o.CreatedBy, &o.CreatedAt); err != nil {
		return oncall.Override{}, err
	}
	o.Start, o.End, o.CreatedAt = o.Start.UTC(), o.End.UTC(), o.CreatedAt.UTC()
	return o, nil
}
