package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env returns a lookup over a fixed map, standing in for os.LookupEnv.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// writeFile writes content to a fresh file and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultMatchesGuide(t *testing.T) {
	t.Parallel()
	want := Config{
		Service:     "incident-server",
		Environment: "development",
		Server: Server{
			Addr:            "127.0.0.1:8080",
			MaxConnections:  1000,
			ReadTimeout:     30 * time.Second,
			WriteTimeout:    30 * time.Second,
			IdleTimeout:     120 * time.Second,
			MaxBodyBytes:    1048576,
			ShutdownTimeout: 15 * time.Second,

			AlertmanagerMaxBodyBytes: 4 << 20,
		},
		Database: Database{
			URL:             "postgres://postgres@127.0.0.1:55432/incidents?sslmode=disable",
			MaxOpenConns:    25,
			ConnMaxLifetime: 5 * time.Minute,
			ConnMaxIdleTime: 5 * time.Minute,
		},
		Redis: Redis{
			Addr:             "127.0.0.1:56379",
			KeyPrefix:        "incident-server:",
			IncidentCacheTTL: 5 * time.Minute,
			UserCacheTTL:     time.Hour,
			ConfigCacheTTL:   24 * time.Hour,
			MaxIdle:          20,
			MaxActive:        100,
			IdleTimeout:      4 * time.Minute,
			DialTimeout:      2 * time.Second,
			ReadTimeout:      time.Second,
			WriteTimeout:     time.Second,
		},
		Temporal: Temporal{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "incidents"},
		Worker: Worker{StickyCacheSize: 2048, MaxConcurrentWorkflowTasks: 200, MaxConcurrentActivities: 200,
			MaxConcurrentLocalActivities: 200, WorkflowPollers: 4, ActivityPollers: 4},
		Push: Push{GorushURL: "", Timeout: 10 * time.Second, WebhookTimeout: 5 * time.Second},
		Dev:  Dev{DataDir: ".data/dev", TemporalPort: 7233, UIPort: 8233},
		Logging: Logging{
			Format: "json",
			Level:  "info",
			Components: map[string]string{
				"database": "warn", "cache": "warn", "connectors": "info", "api": "info", "websocket": "debug", "temporal_server": "warn",
			},
		},
		Auth: Auth{MetricsPublic: true, RateLimit: 20, RateBurst: 40, EventsV2RateLimit: 10, EventsV2RateBurst: 200},
		Console: Console{SessionTTL: 12 * time.Hour, LoginLinkTTL: 15 * time.Minute, PollInterval: 5 * time.Second,
			StreamMaxLen: 10000},
		// Every channel off until its section is filled in.
		Notifications: Notifications{
			AckLinkTTL: 24 * time.Hour,
			Email:      Email{TLS: "starttls", Timeout: 30 * time.Second},
			Twilio:     Twilio{BaseURL: "https://api.twilio.com", Timeout: 10 * time.Second},
			Slack:      Slack{BaseURL: "https://slack.com/api", Timeout: 10 * time.Second},
		},
		// The guide's backup CronJob: daily at 02:00, files kept 3 days.
		Backup: Backup{Cron: "0 2 * * *", Dir: ".data/backups", Retention: 72 * time.Hour, Timeout: time.Hour},
		Maintenance: Maintenance{Cron: "30 3 * * *", Retention: 90 * 24 * time.Hour, ReconcileGrace: 10 * time.Minute,
			AuditRetention: 365 * 24 * time.Hour},
		Schedules: Schedules{CatchupWindow: time.Hour},
	}

	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Default() =\n%+v\nwant\n%+v", got, want)
	}
	if err := want.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	got, err := LoadFrom("", env(nil))
	if err != nil {
		t.Fatalf("LoadFrom with no file and no environment: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LoadFrom with no file and no environment =\n%+v\nwant defaults", got)
	}
}

func TestDefaultReturnsFreshMaps(t *testing.T) {
	t.Parallel()
	a := Default()
	a.Logging.Components["database"] = "debug"
	if got := Default().Logging.Components["database"]; got != "warn" {
		t.Fatalf("modifying one Default() leaked into the next: database = %q", got)
	}
}

func TestExampleFileLoadsToDefaults(t *testing.T) {
	t.Parallel()
	got, err := LoadFrom(filepath.Join("..", "..", "config.example.yaml"), env(nil))
	if err != nil {
		t.Fatalf("load config.example.yaml: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("config.example.yaml =\n%+v\nwant the defaults\n%+v", got, want)
	}
}

func TestYAMLOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c Config)
	}{
		{
			name: "empty file keeps defaults",
			yaml: "",
			check: func(t *testing.T, c Config) {
				if !reflect.DeepEqual(c, Default()) {
					t.Errorf("got %+v, want defaults", c)
				}
			},
		},
		{
			name: "top-level and nested scalars",
			yaml: "environment: production\nserver:\n  addr: 0.0.0.0:9000\n  max_body_bytes: 2097152\n",
			check: func(t *testing.T, c Config) {
				if c.Environment != "production" || c.Server.Addr != "0.0.0.0:9000" || c.Server.MaxBodyBytes != 2<<20 {
					t.Errorf("got environment=%q addr=%q max_body_bytes=%d", c.Environment, c.Server.Addr, c.Server.MaxBodyBytes)
				}
			},
		},
		{
			name: "keys not in the file keep their defaults",
			yaml: "server:\n  read_timeout: 5s\n",
			check: func(t *testing.T, c Config) {
				if c.Server.ReadTimeout != 5*time.Second {
					t.Errorf("read_timeout = %s, want 5s", c.Server.ReadTimeout)
				}
				if c.Server.WriteTimeout != 30*time.Second || c.Server.Addr != "127.0.0.1:8080" {
					t.Errorf("untouched keys changed: write_timeout=%s addr=%q", c.Server.WriteTimeout, c.Server.Addr)
				}
			},
		},
		{
			name: "durations are Go duration strings",
			yaml: "redis:\n  incident_cache_ttl: 90s\n  config_cache_ttl: 48h\n  read_timeout: 250ms\n",
			check: func(t *testing.T, c Config) {
				if c.Redis.IncidentCacheTTL != 90*time.Second || c.Redis.ConfigCacheTTL != 48*time.Hour || c.Redis.ReadTimeout != 250*time.Millisecond {
					t.Errorf("got incident_cache_ttl=%s config_cache_ttl=%s read_timeout=%s",
						c.Redis.IncidentCacheTTL, c.Redis.ConfigCacheTTL, c.Redis.ReadTimeout)
				}
			},
		},
		{
			name: "push section",
			yaml: "push:\n  gorush_url: https://gorush.internal:8088\n  timeout: 3s\n  webhook_timeout: 1500ms\n",
			check: func(t *testing.T, c Config) {
				want := Push{GorushURL: "https://gorush.internal:8088", Timeout: 3 * time.Second, WebhookTimeout: 1500 * time.Millisecond}
				if c.Push != want {
					t.Errorf("push = %+v, want %+v", c.Push, want)
				}
			},
		},
		{
			name: "component levels merge over the defaults",
			yaml: "logging:\n  format: text\n  components:\n    database: debug\n    escalation: error\n",
			check: func(t *testing.T, c Config) {
				want := map[string]string{
					"database": "debug", "cache": "warn", "connectors": "info", "api": "info",
					"websocket": "debug", "temporal_server": "warn", "escalation": "error",
				}
				if c.Logging.Format != "text" || !reflect.DeepEqual(c.Logging.Components, want) {
					t.Errorf("got format=%q components=%v, want text %v", c.Logging.Format, c.Logging.Components, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadFrom(writeFile(t, tt.yaml), env(nil))
			if err != nil {
				t.Fatalf("LoadFrom: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		vars  map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name: "standard names",
			vars: map[string]string{
				"TEMPORAL_ADDRESS":   "temporal.example:7233",
				"TEMPORAL_NAMESPACE": "incidents-prod",
				"DATABASE_URL":       "postgres://app@db.example:5432/incidents",
				"REDIS_ADDR":         "redis.example:6379",
				"REDIS_PASSWORD":     "s3cret",
				"ENVIRONMENT":        "staging",
				"LOG_LEVEL":          "debug",
				"LOG_FORMAT":         "text",
				"GORUSH_URL":         "http://127.0.0.1:58088",
			},
			check: func(t *testing.T, c Config) {
				got := []string{c.Temporal.Address, c.Temporal.Namespace, c.Database.URL, c.Redis.Addr,
					c.Redis.Password, c.Environment, c.Logging.Level, c.Logging.Format, c.Push.GorushURL}
				want := []string{"temporal.example:7233", "incidents-prod", "postgres://app@db.example:5432/incidents",
					"redis.example:6379", "s3cret", "staging", "debug", "text", "http://127.0.0.1:58088"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %q, want %q", got, want)
				}
			},
		},
		{
			name: "systematic names of every kind",
			vars: map[string]string{
				"INCIDENT_SERVICE":                    "pager",
				"INCIDENT_SERVER_ADDR":                "127.0.0.1:9999",
				"INCIDENT_SERVER_MAX_BODY_BYTES":      "4096",
				"INCIDENT_SERVER_SHUTDOWN_TIMEOUT":    "1m30s",
				"INCIDENT_REDIS_INCIDENT_CACHE_TTL":   "42s",
				"INCIDENT_REDIS_DB":                   "3",
				"INCIDENT_DEV_UI_PORT":                "18233",
				"INCIDENT_DATABASE_CONN_MAX_LIFETIME": "30m",
				"INCIDENT_LOGGING_COMPONENTS":         "database=debug, cache=info,,",
				"INCIDENT_PUSH_TIMEOUT":               "2s",
				"INCIDENT_PUSH_WEBHOOK_TIMEOUT":       "750ms",
			},
			check: func(t *testing.T, c Config) {
				if c.Service != "pager" || c.Server.Addr != "127.0.0.1:9999" || c.Server.MaxBodyBytes != 4096 ||
					c.Server.ShutdownTimeout != 90*time.Second || c.Redis.IncidentCacheTTL != 42*time.Second ||
					c.Redis.DB != 3 || c.Dev.UIPort != 18233 ||
					c.Database.ConnMaxLifetime != 30*time.Minute || c.Push.Timeout != 2*time.Second ||
					c.Push.WebhookTimeout != 750*time.Millisecond {
					t.Errorf("scalar overrides not applied: %+v", c)
				}
				want := map[string]string{"database": "debug", "cache": "info", "connectors": "info", "api": "info", "websocket": "debug", "temporal_server": "warn"}
				if !reflect.DeepEqual(c.Logging.Components, want) {
					t.Errorf("components = %v, want %v", c.Logging.Components, want)
				}
			},
		},
		{
			name: "systematic name beats standard name",
			vars: map[string]string{
				"DATABASE_URL":           "postgres://standard/db",
				"INCIDENT_DATABASE_URL":  "postgres://systematic/db",
				"LOG_LEVEL":              "error",
				"INCIDENT_LOGGING_LEVEL": "warn",
			},
			check: func(t *testing.T, c Config) {
				if c.Database.URL != "postgres://systematic/db" || c.Logging.Level != "warn" {
					t.Errorf("got url=%q level=%q", c.Database.URL, c.Logging.Level)
				}
			},
		},
		{
			name: "environment beats the file",
			yaml: "redis:\n  addr: redis.internal:6379\n  key_prefix: \"file:\"\nserver:\n  max_connections: 5\n",
			vars: map[string]string{"REDIS_ADDR": "127.0.0.1:1234", "INCIDENT_SERVER_MAX_CONNECTIONS": "7"},
			check: func(t *testing.T, c Config) {
				if c.Redis.Addr != "127.0.0.1:1234" || c.Server.MaxConnections != 7 || c.Redis.KeyPrefix != "file:" {
					t.Errorf("got addr=%q max_connections=%d key_prefix=%q", c.Redis.Addr, c.Server.MaxConnections, c.Redis.KeyPrefix)
				}
			},
		},
		{
			name: "systematic gorush URL beats GORUSH_URL",
			vars: map[string]string{"GORUSH_URL": "http://standard:1", "INCIDENT_PUSH_GORUSH_URL": "http://systematic:2"},
			check: func(t *testing.T, c Config) {
				if c.Push.GorushURL != "http://systematic:2" {
					t.Errorf("gorush_url = %q", c.Push.GorushURL)
				}
			},
		},
		{
			name: "empty GORUSH_URL turns Gorush off",
			yaml: "push:\n  gorush_url: http://gorush:8088\n",
			vars: map[string]string{"GORUSH_URL": ""},
			check: func(t *testing.T, c Config) {
				if c.Push.GorushURL != "" {
					t.Errorf("gorush_url = %q, want empty", c.Push.GorushURL)
				}
			},
		},
		{
			name: "empty value clears a string",
			yaml: "redis:\n  password: from-file\n",
			vars: map[string]string{"REDIS_PASSWORD": ""},
			check: func(t *testing.T, c Config) {
				if c.Redis.Password != "" {
					t.Errorf("password = %q, want empty", c.Redis.Password)
				}
			},
		},
		{
			name: "version is never read from the environment",
			vars: map[string]string{"INCIDENT_VERSION": "9.9.9"},
			check: func(t *testing.T, c Config) {
				if c.Version != "" {
					t.Errorf("version = %q, want empty", c.Version)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, tt.yaml)
			}
			c, err := LoadFrom(path, env(tt.vars))
			if err != nil {
				t.Fatalf("LoadFrom: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestConfigPathFromEnvironment(t *testing.T) {
	t.Parallel()
	fromEnv := writeFile(t, "service: from-env-path\n")
	explicit := writeFile(t, "service: from-argument\n")

	c, err := LoadFrom("", env(map[string]string{PathEnv: fromEnv}))
	if err != nil {
		t.Fatalf("LoadFrom: %v", err)
	}
	if c.Service != "from-env-path" {
		t.Errorf("with %s set: service = %q, want from-env-path", PathEnv, c.Service)
	}

	c, err = LoadFrom(explicit, env(map[string]string{PathEnv: fromEnv}))
	if err != nil {
		t.Fatalf("LoadFrom: %v", err)
	}
	if c.Service != "from-argument" {
		t.Errorf("with a path argument: service = %q, want from-argument", c.Service)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		vars map[string]string
		path string // used instead of yaml when set
		want []string
	}{
		{name: "missing file", path: "/nonexistent/incident.yaml", want: []string{"read /nonexistent/incident.yaml"}},
		{name: "unknown top-level key", yaml: "servre:\n  addr: x\n", want: []string{"field servre not found"}},
		{name: "unknown nested key", yaml: "redis:\n  adress: 127.0.0.1:1\n", want: []string{"field adress not found"}},
		{name: "version is not a YAML key", yaml: "version: 1.0.0\n", want: []string{"field version not found"}},
		{name: "bad duration in YAML", yaml: "server:\n  read_timeout: 30 seconds\n", want: []string{"line 2", "30 seconds"}},
		{name: "bare number is not a duration", yaml: "redis:\n  user_cache_ttl: 3600\n", want: []string{"line 2", "time.Duration"}},
		{name: "malformed YAML", yaml: "server: [\n", want: []string{"parse "}},
		{name: "bad duration in environment", vars: map[string]string{"INCIDENT_REDIS_INCIDENT_CACHE_TTL": "300"},
			want: []string{"INCIDENT_REDIS_INCIDENT_CACHE_TTL", "missing unit"}},
		{name: "bad integer in environment", vars: map[string]string{"INCIDENT_SERVER_MAX_CONNECTIONS": "many"},
			want: []string{"INCIDENT_SERVER_MAX_CONNECTIONS", "many"}},
		{name: "cron with a seconds field", yaml: "backup:\n  cron: \"0 0 2 * * *\"\n",
			want: []string{"backup.cron", "five fields", `or "" for no backup schedule`}},
		{name: "blank backup cron is not off", vars: map[string]string{"INCIDENT_BACKUP_CRON": " "},
			want: []string{"backup.cron", `or "" for no backup schedule`}},
		{name: "maintenance cannot be turned off", yaml: "maintenance:\n  cron: \"\"\n",
			want: []string{"maintenance.cron", "five fields"}},
		{name: "no retention", vars: map[string]string{"INCIDENT_MAINTENANCE_RETENTION": "0s", "INCIDENT_BACKUP_DIR": " "},
			want: []string{"maintenance.retention: must be a positive duration", "backup.dir: must not be empty"}},
		{name: "integer overflow in environment", vars: map[string]string{"INCIDENT_REDIS_DB": "99999999999999999999"},
			want: []string{"INCIDENT_REDIS_DB", "out of range"}},
		{name: "bad map entry in environment", vars: map[string]string{"INCIDENT_LOGGING_COMPONENTS": "database:debug"},
			want: []string{"INCIDENT_LOGGING_COMPONENTS", `"database:debug" is not key=value`}},
		{name: "empty address", vars: map[string]string{"INCIDENT_SERVER_ADDR": ""}, want: []string{"server.addr: must not be empty"}},
		{name: "address without port", vars: map[string]string{"REDIS_ADDR": "localhost"}, want: []string{"redis.addr:", "not host:port"}},
		{name: "empty database url", vars: map[string]string{"DATABASE_URL": " "}, want: []string{"database.url: must not be empty"}},
		{name: "zero timeout", yaml: "server:\n  write_timeout: 0s\n", want: []string{"server.write_timeout: must be a positive duration"}},
		{name: "negative size", vars: map[string]string{"INCIDENT_SERVER_MAX_BODY_BYTES": "-1"}, want: []string{"server.max_body_bytes: must be positive"}},
		{name: "redis idle above active", yaml: "redis:\n  max_active: 1\n", want: []string{"redis.max_idle"}},
		{name: "port out of range", yaml: "dev:\n  ui_port: 70000\n", want: []string{"dev.ui_port: must be a port"}},
		{name: "temporal database not postgres", vars: map[string]string{"INCIDENT_DEV_TEMPORAL_DATABASE_URL": "/var/temporal.db"},
			want: []string{"dev.temporal_database_url:", "postgres://"}},
		{name: "temporal database without a name", vars: map[string]string{"INCIDENT_DEV_TEMPORAL_DATABASE_URL": "postgres://127.0.0.1:55432"},
			want: []string{"dev.temporal_database_url:", "must name a host and a database"}},
		{name: "temporal database is the engine's", vars: map[string]string{
			"DATABASE_URL":                       "postgres://postgres@127.0.0.1:55432/incidents",
			"INCIDENT_DEV_TEMPORAL_DATABASE_URL": "postgres://postgres@127.0.0.1:55432/incidents?sslmode=disable"},
			want: []string{"dev.temporal_database_url:", "database of its own"}},
		{name: "unknown log level", vars: map[string]string{"LOG_LEVEL": "verbose"}, want: []string{"logging.level:", `"verbose"`}},
		{name: "unknown log format", vars: map[string]string{"LOG_FORMAT": "xml"}, want: []string{"logging.format:", `"xml"`}},
		{name: "unknown component level", yaml: "logging:\n  components:\n    api: loud\n", want: []string{"logging.components.api:", `"loud"`}},
		{name: "gorush url without scheme", vars: map[string]string{"GORUSH_URL": "127.0.0.1:58088"},
			want: []string{"push.gorush_url:", `"127.0.0.1:58088" is not an absolute http or https URL`}},
		{name: "gorush url with another scheme", yaml: "push:\n  gorush_url: ftp://gorush:21\n",
			want: []string{"push.gorush_url:", "ftp://gorush:21"}},
		{name: "gorush url without host", vars: map[string]string{"GORUSH_URL": "http://"}, want: []string{"push.gorush_url:"}},
		{name: "gorush url relative", vars: map[string]string{"GORUSH_URL": "/gorush"}, want: []string{"push.gorush_url:"}},
		{name: "zero push timeout", yaml: "push:\n  timeout: 0s\n", want: []string{"push.timeout: must be a positive duration"}},
		{name: "negative webhook timeout", vars: map[string]string{"INCIDENT_PUSH_WEBHOOK_TIMEOUT": "-1s"},
			want: []string{"push.webhook_timeout: must be a positive duration"}},
		{name: "every problem is reported", yaml: "temporal:\n  namespace: \"\"\n  task_queue: \"\"\n",
			want: []string{"temporal.namespace: must not be empty", "temporal.task_queue: must not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.path
			if path == "" && tt.yaml != "" {
				path = writeFile(t, tt.yaml)
			}
			_, err := LoadFrom(path, env(tt.vars))
			if err == nil {
				t.Fatal("LoadFrom succeeded, want an error")
			}
			if !strings.HasPrefix(err.Error(), "load config: ") {
				t.Errorf("error %q is not wrapped with the operation", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// An empty backup.cron is the documented way to turn the backup schedule
// off, from the file (the Kubernetes ConfigMap) or the environment.
func TestEmptyBackupCronLoads(t *testing.T) {
	t.Parallel()
	fromFile, err := LoadFrom(writeFile(t, "backup:\n  cron: \"\"\n"), env(nil))
	if err != nil {
		t.Fatalf("backup.cron \"\" in the file: %v", err)
	}
	fromEnv, err := LoadFrom("", env(map[string]string{"INCIDENT_BACKUP_CRON": ""}))
	if err != nil {
		t.Fatalf("INCIDENT_BACKUP_CRON=\"\": %v", err)
	}
	for _, c := range []Config{fromFile, fromEnv} {
		if c.Backup.Cron != "" || c.Maintenance.Cron != Default().Maintenance.Cron {
			t.Errorf("backup.cron %q, maintenance.cron %q: want the backup schedule off and maintenance untouched",
				c.Backup.Cron, c.Maintenance.Cron)
		}
	}
}

// A file written for an older build that still sets a removed key fails to
// load, naming the key and its line and saying what to do, instead of the
// decoder's bare "field not found".
func TestRemovedKeysFailNamingThem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "the old example's cache section",
			yaml: "service: pager\ncache:\n  default_expiration: 10m\n  cleanup_interval: 5m\n",
			want: []string{
				"line 3: cache.default_expiration was removed", "redis.incident_cache_ttl", "delete it",
				"line 4: cache.cleanup_interval was removed",
			},
		},
		{
			name: "an empty cache section",
			yaml: "cache: {}\n",
			want: []string{"line 1: cache was removed", "delete the section"},
		},
		{
			name: "max_idle_conns among live database keys",
			yaml: "database:\n  max_open_conns: 25\n  max_idle_conns: 10\n  conn_max_lifetime: 5m\n",
			want: []string{"line 3: database.max_idle_conns was removed", "database.conn_max_idle_time", "delete it"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, tt.yaml)
			_, err := LoadFrom(path, env(nil))
			if err == nil {
				t.Fatal("LoadFrom succeeded, want an error")
			}
			if !strings.HasPrefix(err.Error(), "load config: parse "+path+": ") {
				t.Errorf("error %q does not name the operation and the file", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "not found in type") {
				t.Errorf("error %q is the decoder's, not the removal's", err)
			}
		})
	}

	// The rule for the environment is unchanged: variables with no field
	// are not read, the removed ones included.
	c, err := LoadFrom("", env(map[string]string{"INCIDENT_DATABASE_MAX_IDLE_CONNS": "10", "INCIDENT_CACHE_CLEANUP_INTERVAL": "5m"}))
	if err != nil {
		t.Fatalf("LoadFrom with removed variables: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("removed variables changed the configuration: %+v", c)
	}
}

func TestEveryFieldHasAnEnvironmentVariable(t *testing.T) {
	t.Parallel()
	var c Config
	fs := c.fields()
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.env] {
			t.Errorf("two fields share %s", f.env)
		}
		seen[f.env] = true
	}
	for _, name := range []string{
		"INCIDENT_SERVICE", "INCIDENT_ENVIRONMENT", "INCIDENT_SERVER_ADDR", "INCIDENT_SERVER_MAX_BODY_BYTES",
		"INCIDENT_DATABASE_CONN_MAX_IDLE_TIME", "INCIDENT_REDIS_CONFIG_CACHE_TTL",
		"INCIDENT_TEMPORAL_TASK_QUEUE", "INCIDENT_DEV_TEMPORAL_PORT", "INCIDENT_DEV_TEMPORAL_DATABASE_URL", "INCIDENT_LOGGING_COMPONENTS",
		"INCIDENT_PUSH_GORUSH_URL", "INCIDENT_PUSH_TIMEOUT", "INCIDENT_PUSH_WEBHOOK_TIMEOUT",
		"INCIDENT_WORKER_STICKY_CACHE_SIZE", "INCIDENT_WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES",
		"INCIDENT_OUTBOUND_ALLOW_PRIVATE", "INCIDENT_OUTBOUND_ALLOW", "INCIDENT_OUTBOUND_SIGNING_SECRET",
		"INCIDENT_SECRETS_KEYS", "INCIDENT_MAINTENANCE_AUDIT_RETENTION", "INCIDENT_RUNBOOKS_SECRETS",
		"INCIDENT_CONSOLE_PUBLIC_URL", "INCIDENT_CONSOLE_SESSION_TTL", "INCIDENT_CONSOLE_STREAM_MAX_LEN",
		"INCIDENT_NOTIFICATIONS_PUBLIC_URL", "INCIDENT_NOTIFICATIONS_ACK_LINK_SECRET", "INCIDENT_NOTIFICATIONS_EMAIL_SMTP_HOST",
		"INCIDENT_NOTIFICATIONS_EMAIL_CA_FILE", "INCIDENT_NOTIFICATIONS_TWILIO_AUTH_TOKEN", "INCIDENT_NOTIFICATIONS_SLACK_SIGNING_SECRET",
	} {
		if !seen[name] {
			t.Errorf("no field answers to %s", name)
		}
	}
	for _, name := range []string{"INCIDENT_VERSION", "INCIDENT_CACHE_DEFAULT_EXPIRATION", "INCIDENT_CACHE_CLEANUP_INTERVAL", "INCIDENT_DATABASE_MAX_IDLE_CONNS"} {
		if seen[name] {
			t.Errorf("%s must not be settable", name)
		}
	}
	// 2 top-level + 10 server + 6 database + 14 redis + 3 temporal + 6 worker + 3 push + 4 dev
	// + 3 logging + 7 auth + 6 console + 22 notifications (4 + 9 email + 5 twilio + 4 slack)
	// + 3 outbound + 1 secrets + 1 runbooks + 6 backup + 4 maintenance + 1 schedules.
	if len(fs) != 102 {
		t.Errorf("walk found %d fields, want 102", len(fs))
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"debug", "info", "warn", "error", "WARN"} {
		if _, err := ParseLevel(name); err != nil {
			t.Errorf("ParseLevel(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", "warning", "trace", "info+2"} {
		if _, err := ParseLevel(name); err == nil {
			t.Errorf("ParseLevel(%q) succeeded, want an error", name)
		}
	}
}

func TestDatabaseTopologySettings(t *testing.T) {
	t.Parallel()
	path := writeFile(t, `
database:
  replica_url: postgres://reader@replica:5432/incidents
  query_exec_mode: simple_protocol
redis:
  addrs: [redis-0:6379, redis-1:6379]
`)
	cfg, err := LoadFrom(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.ReplicaURL != "postgres://reader@replica:5432/incidents" || cfg.Database.QueryExecMode != "simple_protocol" {
		t.Errorf("database = %+v", cfg.Database)
	}
	if want := []string{"redis-0:6379", "redis-1:6379"}; !reflect.DeepEqual(cfg.Redis.Addrs, want) {
		t.Errorf("redis.addrs = %q, want %q", cfg.Redis.Addrs, want)
	}

	cfg, err = LoadFrom(path, env(map[string]string{
		"INCIDENT_DATABASE_REPLICA_URL":     "postgres://other@replica2/incidents",
		"INCIDENT_DATABASE_QUERY_EXEC_MODE": "exec",
		"INCIDENT_REDIS_ADDRS":              " a:7000, b:7001 ,,c:7002",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.ReplicaURL != "postgres://other@replica2/incidents" || cfg.Database.QueryExecMode != "exec" {
		t.Errorf("database from env = %+v", cfg.Database)
	}
	if want := []string{"a:7000", "b:7001", "c:7002"}; !reflect.DeepEqual(cfg.Redis.Addrs, want) {
		t.Errorf("redis.addrs from env = %q, want %q", cfg.Redis.Addrs, want)
	}

	bad := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"unknown exec mode", map[string]string{"INCIDENT_DATABASE_QUERY_EXEC_MODE": "prepared"}, "database.query_exec_mode"},
		{"seed without port", map[string]string{"INCIDENT_REDIS_ADDRS": "a:7000,b"}, "redis.addrs[1]"},
		{"cluster with db", map[string]string{"INCIDENT_REDIS_ADDRS": "a:7000", "INCIDENT_REDIS_DB": "2"}, "redis.db"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadFrom("", env(tc.vars))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// outbound.allow_private follows the environment until it is set, and a
// setting wins both ways, from the file or the environment.
func TestOutboundAllowPrivateFollowsTheEnvironmentUnlessSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		vars map[string]string
		want bool
	}{
		{name: "development default", want: true},
		{name: "production default", vars: map[string]string{"ENVIRONMENT": "production"}, want: false},
		{name: "staging default", yaml: "environment: staging\n", want: false},
		{name: "set false in development", yaml: "outbound:\n  allow_private: false\n", want: false},
		{name: "set true in production", yaml: "environment: production\noutbound:\n  allow_private: true\n", want: true},
		{name: "environment variable in production", vars: map[string]string{"ENVIRONMENT": "production", "INCIDENT_OUTBOUND_ALLOW_PRIVATE": "true"}, want: true},
		{name: "environment variable beats the file", yaml: "outbound:\n  allow_private: true\n",
			vars: map[string]string{"INCIDENT_OUTBOUND_ALLOW_PRIVATE": "false"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, tt.yaml)
			}
			c, err := LoadFrom(path, env(tt.vars))
			if err != nil {
				t.Fatalf("LoadFrom: %v", err)
			}
			if got := c.OutboundAllowsPrivate(); got != tt.want {
				t.Errorf("OutboundAllowsPrivate() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOutboundAndSecretsSettings(t *testing.T) {
	t.Parallel()
	const k1 = "k1:MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="
	const k0 = "k0:YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY="
	c, err := LoadFrom(writeFile(t, "outbound:\n  allow: [10.20.0.0/16, hooks.internal.example]\n  signing_secret: "+
		"0123456789abcdef0123456789abcdef\nsecrets:\n  keys: ["+k1+", "+k0+"]\n"), env(nil))
	if err != nil {
		t.Fatalf("LoadFrom: %v", err)
	}
	if want := []string{"10.20.0.0/16", "hooks.internal.example"}; !reflect.DeepEqual(c.Outbound.Allow, want) {
		t.Errorf("outbound.allow = %q, want %q", c.Outbound.Allow, want)
	}
	if want := []string{k1, k0}; !reflect.DeepEqual(c.Secrets.Keys, want) {
		t.Errorf("secrets.keys = %q, want %q", c.Secrets.Keys, want)
	}
	c, err = LoadFrom("", env(map[string]string{"INCIDENT_SECRETS_KEYS": k1 + "," + k0, "INCIDENT_OUTBOUND_ALLOW": "127.0.0.1/32, ::1"}))
	if err != nil {
		t.Fatalf("LoadFrom: %v", err)
	}
	if want := []string{k1, k0}; !reflect.DeepEqual(c.Secrets.Keys, want) {
		t.Errorf("secrets.keys from the environment = %q, want %q", c.Secrets.Keys, want)
	}
	if want := []string{"127.0.0.1/32", "::1"}; !reflect.DeepEqual(c.Outbound.Allow, want) {
		t.Errorf("outbound.allow from the environment = %q, want %q", c.Outbound.Allow, want)
	}
	c, err = LoadFrom(writeFile(t, "runbooks:\n  secrets:\n    deploy_token: s3cret\n"),
		env(map[string]string{"INCIDENT_RUNBOOKS_SECRETS": "pager_key=k3y"}))
	if err != nil {
		t.Fatalf("LoadFrom: %v", err)
	}
	if want := map[string]string{"deploy_token": "s3cret", "pager_key": "k3y"}; !reflect.DeepEqual(c.Runbooks.Secrets, want) {
		t.Errorf("runbooks.secrets = %q, want %q (the environment's entries merged over the file's)", c.Runbooks.Secrets, want)
	}

	bad := []struct {
		name string
		vars map[string]string
		want []string
		not  string
	}{
		{"allow entry", map[string]string{"INCIDENT_OUTBOUND_ALLOW": "10.0.0.0/8,not a host"}, []string{"outbound.allow", `"not a host"`}, ""},
		{"short signing secret", map[string]string{"INCIDENT_OUTBOUND_SIGNING_SECRET": "short"}, []string{"outbound.signing_secret", "32 bytes"}, ""},
		{"key without id", map[string]string{"INCIDENT_SECRETS_KEYS": "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="},
			[]string{"secrets.keys", "key 1", "secrets generate-key"}, "MDEy"},
		{"short key", map[string]string{"INCIDENT_SECRETS_KEYS": k1 + ",k2:c2hvcnQ="}, []string{"secrets.keys", "key 2", `"k2"`}, "c2hvcnQ"},
		{"repeated id", map[string]string{"INCIDENT_SECRETS_KEYS": k1 + "," + k1}, []string{"secrets.keys", "used twice"}, ""},
		{"no audit retention", map[string]string{"INCIDENT_MAINTENANCE_AUDIT_RETENTION": "0s"}, []string{"maintenance.audit_retention"}, ""},
		{"unparsable allow_private", map[string]string{"INCIDENT_OUTBOUND_ALLOW_PRIVATE": "sometimes"}, []string{"INCIDENT_OUTBOUND_ALLOW_PRIVATE"}, ""},
		{"runbook secret name", map[string]string{"INCIDENT_RUNBOOKS_SECRETS": "deploy token=s3cret"}, []string{"runbooks.secrets", `"deploy token"`}, "s3cret"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadFrom("", env(tc.vars))
			if err == nil {
				t.Fatal("LoadFrom succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.not != "" && strings.Contains(err.Error(), tc.not) {
				t.Errorf("error %q shows key material", err)
			}
		})
	}
}

func TestNotificationChannels(t *testing.T) {
	t.Parallel()
	secret := "0123456789abcdef0123456789abcdef"
	full := map[string]string{
		"INCIDENT_NOTIFICATIONS_PUBLIC_URL":           "https://incidents.example.com",
		"INCIDENT_NOTIFICATIONS_ACK_LINK_SECRET":      secret,
		"INCIDENT_NOTIFICATIONS_EMAIL_SMTP_HOST":      "smtp.example.com",
		"INCIDENT_NOTIFICATIONS_EMAIL_FROM":           "Incident Server <pager@example.com>",
		"INCIDENT_NOTIFICATIONS_TWILIO_ACCOUNT_SID":   "AC123",
		"INCIDENT_NOTIFICATIONS_TWILIO_AUTH_TOKEN":    "token",
		"INCIDENT_NOTIFICATIONS_TWILIO_FROM_NUMBER":   "+15005550006",
		"INCIDENT_NOTIFICATIONS_SLACK_BOT_TOKEN":      "xoxb-1",
		"INCIDENT_NOTIFICATIONS_SLACK_SIGNING_SECRET": "shh",
		"INCIDENT_NOTIFICATIONS_EMAIL_SMTP_PORT":      "2525",
		"INCIDENT_NOTIFICATIONS_TWILIO_BASE_URL":      "http://127.0.0.1:9999",
		"INCIDENT_NOTIFICATIONS_ACK_LINK_TTL":         "2h",
		"INCIDENT_NOTIFICATIONS_INCIDENT_URL":         "https://console.example.com/incidents/{id}",
		"INCIDENT_NOTIFICATIONS_SLACK_TIMEOUT":        "3s",
		"INCIDENT_NOTIFICATIONS_EMAIL_INSECURE_AUTH":  "false",
		"INCIDENT_NOTIFICATIONS_EMAIL_TLS":            "implicit",
		"INCIDENT_NOTIFICATIONS_EMAIL_TIMEOUT":        "5s",
		"INCIDENT_NOTIFICATIONS_TWILIO_TIMEOUT":       "4s",
		"INCIDENT_NOTIFICATIONS_SLACK_BASE_URL":       "http://127.0.0.1:9998/api",
		"INCIDENT_NOTIFICATIONS_EMAIL_USERNAME":       "pager",
		"INCIDENT_NOTIFICATIONS_EMAIL_PASSWORD":       "pw",
		"INCIDENT_NOTIFICATIONS_EMAIL_CA_FILE":        "/etc/ssl/private-ca.pem",
	}
	c, err := LoadFrom("", env(full))
	if err != nil {
		t.Fatalf("LoadFrom: %v", err)
	}
	if got, want := c.Notifications.Enabled(), []string{"email", "sms", "voice", "slack"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Enabled() = %q, want %q", got, want)
	}
	if c.Notifications.Email.SMTPPort != 2525 || c.Notifications.AckLinkTTL != 2*time.Hour || c.Notifications.Slack.Timeout != 3*time.Second {
		t.Errorf("notifications = %+v", c.Notifications)
	}
	if got := Default().Notifications.Enabled(); len(got) != 0 {
		t.Errorf("defaults enable %q, want nothing", got)
	}

	for name, tt := range map[string]struct {
		vars map[string]string
		want string
	}{
		"twilio without a token":        {map[string]string{"INCIDENT_NOTIFICATIONS_TWILIO_AUTH_TOKEN": ""}, "notifications.twilio.auth_token"},
		"twilio with a local number":    {map[string]string{"INCIDENT_NOTIFICATIONS_TWILIO_FROM_NUMBER": "555-0006"}, "notifications.twilio.from_number"},
		"twilio without a public url":   {map[string]string{"INCIDENT_NOTIFICATIONS_PUBLIC_URL": "", "INCIDENT_NOTIFICATIONS_ACK_LINK_SECRET": ""}, "notifications.twilio: needs"},
		"a token without an account":    {map[string]string{"INCIDENT_NOTIFICATIONS_TWILIO_ACCOUNT_SID": ""}, "notifications.twilio.account_sid"},
		"slack without a secret":        {map[string]string{"INCIDENT_NOTIFICATIONS_SLACK_SIGNING_SECRET": ""}, "notifications.slack.signing_secret"},
		"a slack secret without a bot":  {map[string]string{"INCIDENT_NOTIFICATIONS_SLACK_BOT_TOKEN": ""}, "notifications.slack.bot_token"},
		"email without a sender":        {map[string]string{"INCIDENT_NOTIFICATIONS_EMAIL_FROM": ""}, "notifications.email"},
		"email in an unknown tls mode":  {map[string]string{"INCIDENT_NOTIFICATIONS_EMAIL_TLS": "ssl"}, "notifications.email"},
		"a sender without a server":     {map[string]string{"INCIDENT_NOTIFICATIONS_EMAIL_SMTP_HOST": ""}, "notifications.email.smtp_host"},
		"a short link secret":           {map[string]string{"INCIDENT_NOTIFICATIONS_ACK_LINK_SECRET": "short"}, "notifications.ack_link_secret"},
		"a public url with a query":     {map[string]string{"INCIDENT_NOTIFICATIONS_PUBLIC_URL": "https://x.example/?a=1"}, "notifications.public_url"},
		"an incident url without an id": {map[string]string{"INCIDENT_NOTIFICATIONS_INCIDENT_URL": "https://console.example.com/"}, "notifications.incident_url"},
		"a relative twilio base url":    {map[string]string{"INCIDENT_NOTIFICATIONS_TWILIO_BASE_URL": "api.twilio.com"}, "notifications.twilio.base_url"},
		"no link lifetime":              {map[string]string{"INCIDENT_NOTIFICATIONS_ACK_LINK_TTL": "0s"}, "notifications.ack_link_ttl"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{}
			maps.Copy(vars, full)
			maps.Copy(vars, tt.vars)
			_, err := LoadFrom("", env(vars))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadFrom: %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// The embedded Temporal server may keep its state in a Postgres database of
// its own, on the engine's server.
func TestTemporalDatabaseURLLoads(t *testing.T) {
	t.Parallel()
	const u = "postgres://postgres@127.0.0.1:55432/temporal?sslmode=disable"
	cfg, err := LoadFrom("", env(map[string]string{"INCIDENT_DEV_TEMPORAL_DATABASE_URL": u}))
	if err != nil {
		t.Fatalf("LoadFrom: %v", err)
	}
	if cfg.Dev.TemporalDatabaseURL != u {
		t.Errorf("dev.temporal_database_url = %q, want %q", cfg.Dev.TemporalDatabaseURL, u)
	}
}
