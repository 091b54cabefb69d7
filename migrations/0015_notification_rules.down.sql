DELETE FROM notifications WHERE channel IN ('email', 'sms', 'voice', 'slack');
ALTER TABLE notifications DROP CONSTRAINT notifications_channel_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_channel_check
    CHECK (channel IN ('push', 'webhook', 'log'));
ALTER TABLE notifications DROP COLUMN rule;

DROP TABLE notification_rules;

DELETE FROM contact_methods WHERE type IN ('email', 'sms', 'voice', 'slack');
DROP INDEX idx_contact_methods_address;
DROP INDEX contact_methods_address_key;
ALTER TABLE contact_methods DROP CONSTRAINT contact_methods_type_check;
ALTER TABLE contact_methods ADD CONSTRAINT contact_methods_type_check CHECK (type IN ('push', 'webhook'));
ALTER TABLE contact_methods DROP COLUMN address;
