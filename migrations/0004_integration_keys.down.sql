DROP TABLE IF EXISTS integration_keys;
