-- Sealed URLs stay sealed: a build from before 0011 cannot open them, so
-- going back that far needs their webhooks entered again.
DROP INDEX contact_methods_webhook_key;
ALTER TABLE contact_methods DROP COLUMN url_hash;
CREATE UNIQUE INDEX contact_methods_webhook_key ON contact_methods (user_id, url)
    WHERE type = 'webhook';
