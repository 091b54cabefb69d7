DROP TABLE calendar_feeds;
DROP TABLE schedule_overrides;
DROP TABLE schedules;
