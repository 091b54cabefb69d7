-- Who gets paged and how: users and their contact methods, escalation
-- policies, services, and the ledger of notifications sent. Indexes are built
-- without CONCURRENTLY, as in 0001: the tables are created empty in the same
-- transaction.

CREATE TABLE users (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    time_zone  text NOT NULL DEFAULT 'UTC',
    role       text NOT NULL DEFAULT 'responder',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Keep in step with internal/oncall: Role.
    CONSTRAINT users_role_check CHECK (role IN ('viewer', 'responder', 'admin'))
);

-- One user per address, whatever its case. The store maps a violation of this
-- index by name to a conflict.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX idx_users_name ON users (name, id);

CREATE TABLE contact_methods (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type       text NOT NULL,
    label      text NOT NULL DEFAULT '',
    platform   text NOT NULL DEFAULT '',
    token      text NOT NULL DEFAULT '',
    url        text NOT NULL DEFAULT '',
    format     text NOT NULL DEFAULT '',
    -- The method's index in its user's list: the order the user gave them in.
    position   int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Keep in step with internal/oncall: ContactType.
    CONSTRAINT contact_methods_type_check CHECK (type IN ('push', 'webhook'))
);

-- A device or a webhook is listed once per user; the store maps violations of
-- these indexes by name to a conflict.
CREATE UNIQUE INDEX contact_methods_push_key ON contact_methods (user_id, type, token)
    WHERE type = 'push';
CREATE UNIQUE INDEX contact_methods_webhook_key ON contact_methods (user_id, url)
    WHERE type = 'webhook';
CREATE INDEX idx_contact_methods_user ON contact_methods (user_id, position);

CREATE TABLE escalation_policies (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    -- []oncall.Step as JSON: [{"delay":"5m0s","targets":[{"type":"user","id":"usr_…"}]}].
    steps      jsonb NOT NULL,
    repeat     int NOT NULL DEFAULT 0,
    -- 1 on create, +1 on every update; incidents record the version they ran.
    version    bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT escalation_policies_repeat_check CHECK (repeat >= 0)
);

-- Finds the policies that target a user (steps @> '[{"targets":[{…}]}]')
-- before the user is deleted.
CREATE INDEX idx_escalation_policies_steps ON escalation_policies USING gin (steps jsonb_path_ops);
CREATE INDEX idx_escalation_policies_name ON escalation_policies (name, id);

CREATE TABLE services (
    -- The service name incidents carry in incidents.service. Not a foreign
    -- key from incidents: incidents of unknown services are recorded too.
    id                   text PRIMARY KEY,
    name                 text NOT NULL,
    description          text NOT NULL DEFAULT '',
    -- NULL: incidents are recorded but nobody is paged. A policy in use
    -- cannot be deleted.
    escalation_policy_id text REFERENCES escalation_policies (id) ON DELETE RESTRICT,
    ack_timeout_ms       bigint NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT services_ack_timeout_check CHECK (ack_timeout_ms >= 0)
);

-- Serves the RESTRICT check and "which service uses this policy".
CREATE INDEX idx_services_policy ON services (escalation_policy_id);
CREATE INDEX idx_services_name ON services (name, id);

-- The delivery ledger. A notification is claimed under its business key
-- before it is sent, so an activity that runs again never pages twice.
-- user_id and contact_method_id are not foreign keys: the ledger outlives
-- the users and devices it paged.
CREATE TABLE notifications (
    -- incident/step/round/user/contact, see store.NotificationKey.
    key               text PRIMARY KEY,
    incident_id       text NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    step              int NOT NULL,
    round             int NOT NULL,
    page              int NOT NULL DEFAULT 0,
    user_id           text NOT NULL DEFAULT '',
    contact_method_id text NOT NULL DEFAULT '',
    channel           text NOT NULL,
    status            text NOT NULL DEFAULT 'claimed',
    detail            text NOT NULL DEFAULT '',
    -- How many times the key was claimed: 1, plus one per retried send.
    attempts          int NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_step_round_check CHECK (step >= 0 AND round >= 0),
    CONSTRAINT notifications_channel_check CHECK (channel IN ('push', 'webhook', 'log')),
    -- Keep in step with store: NotificationClaimed, NotificationSent, NotificationFailed.
    CONSTRAINT notifications_status_check CHECK (status IN ('claimed', 'sent', 'failed'))
);

CREATE INDEX idx_notifications_incident ON notifications (incident_id, created_at);
