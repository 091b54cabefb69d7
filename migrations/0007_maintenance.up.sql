-- Maintenance windows: incidents of the service that open inside one page
-- nobody.
CREATE TABLE maintenance_windows (
    id         text PRIMARY KEY,
    service_id text NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT maintenance_windows_order CHECK (ends_at > starts_at)
);

CREATE INDEX idx_maintenance_windows_service ON maintenance_windows (service_id, ends_at);
