DROP TABLE handoff_deliveries;
DROP TABLE handoff_subscriptions;
