-- On-call schedules: a time zone and ordered rotation layers, computed by
-- internal/schedule; the overrides that put someone else on call for a
-- stretch; and the calendar feeds that publish the computed shifts.

CREATE TABLE schedules (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    -- An IANA zone name; every local time of the layers is read in it.
    time_zone   text NOT NULL,
    -- []schedule.Layer as JSON: [{"name":…,"members":["usr_…"],
    -- "start":"2026-03-02T09:00","turn":"weekly","restrictions":[…]}].
    layers      jsonb NOT NULL,
    -- 1 on create, +1 on every update.
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Finds the schedules whose layers name a user (layers @> '[{"members":[…]}]')
-- before the user is deleted.
CREATE INDEX idx_schedules_layers ON schedules USING gin (layers jsonb_path_ops);
CREATE INDEX idx_schedules_name ON schedules (name, id);

CREATE TABLE schedule_overrides (
    id          text PRIMARY KEY,
    schedule_id text NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    -- Deleting a user is refused while an override of theirs has not ended
    -- (store.DeleteUser); their past overrides go with them.
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The user covered for; '' covers everyone. Not a foreign key: an
    -- override of someone since deleted simply never applies.
    replaces    text NOT NULL DEFAULT '',
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    -- The caller who made it, as timelines name callers.
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schedule_overrides_range_check CHECK (ends_at > starts_at)
);

-- A schedule's overrides in a window: what a computation reads, and the
-- clash check a new override runs (under a lock on its schedule's row).
CREATE INDEX idx_schedule_overrides_window ON schedule_overrides (schedule_id, ends_at, starts_at);
CREATE INDEX idx_schedule_overrides_user ON schedule_overrides (user_id, ends_at);

-- iCalendar feeds. A feed's URL carries a token, cal_<id>.<secret>; only a
-- hash of the secret is stored, and the token is shown once, when it is
-- made. Making a new one for the same schedule or user replaces the row, so
-- the old URL stops working (rotation).
CREATE TABLE calendar_feeds (
    id          text PRIMARY KEY,
    -- Exactly one of the two: whose shifts the feed shows.
    schedule_id text UNIQUE REFERENCES schedules (id) ON DELETE CASCADE,
    user_id     text UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    -- sha256 of the secret part of the token (256 random bits).
    secret_hash bytea NOT NULL,
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calendar_feeds_owner_check CHECK ((schedule_id IS NULL) <> (user_id IS NULL)),
    CONSTRAINT calendar_feeds_secret_hash_check CHECK (octet_length(secret_hash) = 32)
);
