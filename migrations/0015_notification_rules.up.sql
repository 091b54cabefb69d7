-- Contact methods reach their users by email, SMS, voice and Slack too, and
-- each user may set notification rules: which contact method is paged how
-- long after the user was, per urgency. The ledger numbers the rule a
-- delivery belongs to.

-- email, sms, voice and slack methods hold where they reach their user in
-- address: an email address, an E.164 number, a Slack member or
-- conversation ID (see internal/oncall: ContactMethod.Address).
ALTER TABLE contact_methods ADD COLUMN address text NOT NULL DEFAULT '';
ALTER TABLE contact_methods DROP CONSTRAINT contact_methods_type_check;
-- Keep in step with internal/oncall: ContactType.
ALTER TABLE contact_methods ADD CONSTRAINT contact_methods_type_check
    CHECK (type IN ('push', 'webhook', 'email', 'sms', 'voice', 'slack'));
-- One address per user and type; the store maps a violation to a conflict.
CREATE UNIQUE INDEX contact_methods_address_key ON contact_methods (user_id, type, address)
    WHERE type IN ('email', 'sms', 'voice', 'slack');
-- Who a Slack member is (a slack method addressed to a member ID links the
-- member to its user), and whose number an inbound SMS came from.
CREATE INDEX idx_contact_methods_address ON contact_methods (type, address)
    WHERE type IN ('sms', 'voice', 'slack');

-- A user's rules: the rule at position N of an urgency pages the contact
-- method delay_ms after the user was paged. The foreign key to the contact
-- method is checked at commit: the store replaces a user's contact methods
-- by deleting and inserting them in one transaction, keeping the IDs of
-- those that stay, and deletes the rules of those that go.
CREATE TABLE notification_rules (
    user_id           text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Keep in step with internal/oncall: Urgency.
    urgency           text NOT NULL,
    position          int NOT NULL,
    contact_method_id text NOT NULL REFERENCES contact_methods (id) DEFERRABLE INITIALLY DEFERRED,
    delay_ms          bigint NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, urgency, position),
    CONSTRAINT notification_rules_urgency_check CHECK (urgency IN ('high', 'low')),
    CONSTRAINT notification_rules_delay_check CHECK (delay_ms >= 0)
);

CREATE INDEX idx_notification_rules_contact ON notification_rules (contact_method_id);

-- The rule of a delivery, from 1; 0 for a page to every contact method at
-- once (a user without rules).
ALTER TABLE notifications ADD COLUMN rule int NOT NULL DEFAULT 0;
ALTER TABLE notifications DROP CONSTRAINT notifications_channel_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_channel_check
    CHECK (channel IN ('push', 'webhook', 'log', 'email', 'sms', 'voice', 'slack'));
