DROP TABLE IF EXISTS timeline_events;
DROP TABLE IF EXISTS incidents;
