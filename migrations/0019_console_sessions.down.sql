DROP TABLE console_sessions;
DROP TABLE login_links;
