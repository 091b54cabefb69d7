-- Webhook URLs are stored sealed (AES-GCM with a random nonce, see
-- internal/secret): the same URL seals to a different text every time, so
-- the unique index on (user_id, url) no longer stops a user from listing a
-- webhook twice. The index moves to url_hash, the hex SHA-256 of the URL as
-- the API stores it (trimmed), which the store writes beside the sealed URL.
-- A plain hash is enough: it serves equality only, and the URLs that are
-- credentials (Slack's, Teams') carry far more randomness than a guess can
-- cover. Rows written before this migration hold plaintext URLs: their hash
-- is computed here; `incident-server secrets rotate` seals them.
--
-- NULL (push devices, and webhook rows imported from an export made before
-- this migration) is never a duplicate; `secrets rotate` fills it in.

ALTER TABLE contact_methods ADD COLUMN url_hash text;

UPDATE contact_methods SET url_hash = encode(sha256(convert_to(url, 'UTF8')), 'hex')
WHERE type = 'webhook' AND url NOT LIKE 'enc:v1:%';

DROP INDEX contact_methods_webhook_key;
CREATE UNIQUE INDEX contact_methods_webhook_key ON contact_methods (user_id, url_hash)
    WHERE type = 'webhook';
