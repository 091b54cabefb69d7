DROP TABLE IF EXISTS heartbeat_monitors;
