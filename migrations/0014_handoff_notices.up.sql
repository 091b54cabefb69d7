-- Handoff notices: a user asks to be told some minutes before each of their
-- shifts in a schedule starts. One HandoffWorkflow per schedule sends them;
-- each delivery is claimed in handoff_deliveries first, so a retried
-- activity or a plan made again never sends a notice twice.

CREATE TABLE handoff_subscriptions (
    schedule_id    text NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Keep in step with internal/oncall: MinNoticeMinutes, MaxNoticeMinutes.
    minutes_before int NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, user_id),
    CONSTRAINT handoff_subscriptions_minutes_check CHECK (minutes_before BETWEEN 1 AND 1440)
);

CREATE INDEX idx_handoff_subscriptions_user ON handoff_subscriptions (user_id);

-- The notices' delivery ledger. Not foreign keys: the ledger outlives the
-- schedules, users and devices it reached.
CREATE TABLE handoff_deliveries (
    -- schedule/user/shift start/contact method, see store.HandoffKey.
    key               text PRIMARY KEY,
    schedule_id       text NOT NULL,
    user_id           text NOT NULL,
    shift_start       timestamptz NOT NULL,
    contact_method_id text NOT NULL,
    channel           text NOT NULL,
    status            text NOT NULL DEFAULT 'claimed',
    detail            text NOT NULL DEFAULT '',
    -- How many times the key was claimed: 1, plus one per retried send.
    attempts          int NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT handoff_deliveries_channel_check CHECK (channel IN ('push', 'webhook', 'log')),
    -- Keep in step with store: NotificationClaimed, NotificationSent, NotificationFailed.
    CONSTRAINT handoff_deliveries_status_check CHECK (status IN ('claimed', 'sent', 'failed'))
);

CREATE INDEX idx_handoff_deliveries_schedule ON handoff_deliveries (schedule_id, shift_start);
