DROP TABLE IF EXISTS notifications;
DROP TABLE IF EXISTS services;
DROP TABLE IF EXISTS escalation_policies;
DROP TABLE IF EXISTS contact_methods;
DROP TABLE IF EXISTS users;
