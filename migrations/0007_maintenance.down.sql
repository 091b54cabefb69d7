DROP TABLE IF EXISTS maintenance_windows;
