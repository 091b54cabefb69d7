-- What makes a page answerable from where it lands: the reply codes of the
-- SMS pages sent, and the acknowledge links that were used.

-- Every page SMS ends with "Reply 4 K3M9 to acknowledge": K3M9 is the code
-- of its delivery (internal/notify/ackcode). A reply is taken from a
-- number that was sent a page, for an incident still active; the code tells
-- that number's pages apart. Kept until the incident's timeline is purged.
CREATE TABLE sms_reply_codes (
    -- The paged number, E.164.
    number      text NOT NULL,
    -- Lowercase Crockford base32, ackcode.CodeLen characters.
    code        text NOT NULL,
    incident_id text NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id     text NOT NULL,
    delivery_id text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number, code, incident_id, user_id)
);

CREATE INDEX idx_sms_reply_codes_incident ON sms_reply_codes (incident_id);

-- An acknowledge link works once: its nonce is inserted when it is used.
CREATE TABLE ack_link_uses (
    nonce       text PRIMARY KEY,
    incident_id text NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id     text NOT NULL,
    used_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_ack_link_uses_incident ON ack_link_uses (incident_id);
