// Package config is the one configuration loader of incident-server.
//
// Precedence, lowest to highest: built-in defaults, the YAML file, the standard
// environment variables (DATABASE_URL, REDIS_ADDR, …), the systematic
// INCIDENT_<SECTION>_<FIELD> variables. The result is validated before it is
// returned, so callers never see zero values or an unchecked setting.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// PathEnv names the variable that points at the YAML file when Load is given no path.
const PathEnv = "INCIDENT_CONFIG"

// envPrefix starts every systematic override: INCIDENT_<SECTION>_<FIELD>, built
// from the upper-cased yaml tags (server.max_body_bytes → INCIDENT_SERVER_MAX_BODY_BYTES).
const envPrefix = "INCIDENT"

// standardEnv maps the conventional variable names that deployment tooling and
// the Makefile set to the yaml path of the field they override. The systematic
// form of the same field wins when both are set.
var standardEnv = map[string]string{
	"TEMPORAL_ADDRESS":   "temporal.address",
	"TEMPORAL_NAMESPACE": "temporal.namespace",
	"DATABASE_URL":       "database.url",
	"REDIS_ADDR":         "redis.addr",
	"REDIS_PASSWORD":     "redis.password",
	"ENVIRONMENT":        "environment",
	"LOG_LEVEL":          "logging.level",
	"LOG_FORMAT":         "logging.format",
	"GORUSH_URL":         "push.gorush_url",
}

// Config is the whole configuration of one process.
type Config struct {
	// Service names this deployment in logs and metrics. Default "incident-server".
	Service string `yaml:"service"`
	// Environment is a free-form label ("development", "staging", "production")
	// attached to logs. Default "development".
	Environment string `yaml:"environment"`
	// Version is the build version. It is never read from YAML or the
	// environment; the binary sets it from its build information.
	Version string `yaml:"-"`

	Server   Server   `yaml:"server"`
	Database Database `yaml:"database"`
	Redis    Redis    `yaml:"redis"`
	Temporal Temporal `yaml:"temporal"`
	Push     Push     `yaml:"push"`
	Dev      Dev      `yaml:"dev"`
	Logging  Logging  `yaml:"logging"`
	Auth     Auth     `yaml:"auth"`

	Backup      Backup      `yaml:"backup"`
	Maintenance Maintenance `yaml:"maintenance"`
	Schedules   Schedules   `yaml:"schedules"`
}

// Server configures the HTTP API listener.
type Server struct {
	// Addr is the listen address, host:port. Default "127.0.0.1:8080".
	Addr string `yaml:"addr"`
	// MaxConnections caps concurrently served connections. Default 1000.
	MaxConnections int `yaml:"max_connections"`
	// ReadTimeout bounds reading a whole request, body included. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response. Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxBodyBytes is the largest accepted request body. Default 1 MiB (1048576).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout is how long in-flight requests get to finish on shutdown.
	// Default 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// AlertmanagerMaxBodyBytes is the largest accepted Alertmanager webhook:
	// a group of many alerts can be far larger than a REST request.
	// Default 4 MiB (4194304).
	AlertmanagerMaxBodyBytes int64 `yaml:"alertmanager_max_body_bytes"`
	// TLSCertFile and TLSKeyFile, both set, make `api` and `dev` serve HTTPS
	// themselves (TLS 1.2 and later) for deployments without a TLS-
	// terminating ingress. Default "": plain HTTP.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// Database configures the Postgres projection store.
type Database struct {
	// URL is a libpq/pgx connection string.
	// Default "postgres://postgres@127.0.0.1:55432/incidents?sslmode=disable",
	// the dev profile of deploy/local/services.sh.
	URL string `yaml:"url"`
	// MaxOpenConns caps the pool size. Default 25.
	MaxOpenConns int `yaml:"max_open_conns"`
	// ConnMaxLifetime recycles a connection after this age. Default 5m.
	ConnMaxLifetime time.Duration `yaml:"conn_max_lifetime"`
	// ConnMaxIdleTime closes a connection idle this long. Default 5m.
	ConnMaxIdleTime time.Duration `yaml:"conn_max_idle_time"`
	// ReplicaURL is a connection string of a streaming replica (or a
	// PgBouncer in front of replicas). Incident lists and timelines read
	// from it; every write, and every read that must see a write, uses URL.
	// Default "": everything uses URL.
	ReplicaURL string `yaml:"replica_url"`
	// QueryExecMode is how pgx sends queries: "cache_statement" (named
	// prepared statements, cached per connection), "cache_describe",
	// "describe_exec", "exec" (an unnamed statement per query, in one round
	// trip) or "simple_protocol". Behind PgBouncer in transaction pooling
	// mode use "exec" or "simple_protocol": a named statement prepared on one
	// server connection is missing from the next. Default "": the
	// default_query_exec_mode of the URL, else cache_statement.
	QueryExecMode string `yaml:"query_exec_mode"`
}

// QueryExecModes are the accepted values of database.query_exec_mode.
var QueryExecModes = []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"}

// Redis configures the shared cache, dedup guards, rate limits and pub/sub.
type Redis struct {
	// Addr is host:port. Default "127.0.0.1:56379", the dev profile of
	// deploy/local/services.sh.
	Addr string `yaml:"addr"`
	// Password is sent with AUTH when non-empty. Default "" (no AUTH).
	Password string `yaml:"password"`
	// DB selects the logical database. Default 0.
	DB int `yaml:"db"`
	// KeyPrefix starts every key this service writes, so several deployments
	// can share one Redis; the rate limiter's keys carry it behind
	// redis_rate's fixed "rate:" (rate:<KeyPrefix>ratelimit:…). Default
	// "incident-server:".
	KeyPrefix string `yaml:"key_prefix"`
	// IncidentCacheTTL is the lifetime of a cached incident. Default 300s.
	IncidentCacheTTL time.Duration `yaml:"incident_cache_ttl"`
	// UserCacheTTL is the lifetime of a cached user. Default 3600s.
	UserCacheTTL time.Duration `yaml:"user_cache_ttl"`
	// ConfigCacheTTL is the lifetime of cached policies and settings. Default 86400s.
	ConfigCacheTTL time.Duration `yaml:"config_cache_ttl"`
	// MaxIdle is how many idle connections the pool keeps; it may be 0 and
	// must not exceed MaxActive. Default 20.
	MaxIdle int `yaml:"max_idle"`
	// MaxActive caps the pool size. Default 100.
	MaxActive int `yaml:"max_active"`
	// IdleTimeout closes a connection idle this long. Default 240s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// DialTimeout bounds establishing a connection. Default 2s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds reading one reply. Default 1s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one command. Default 1s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// Addrs are the host:port seed nodes of a Redis Cluster. When set, the
	// client speaks the cluster protocol, discovers the other nodes from
	// these, Addr is ignored and DB must be 0. In the environment they are
	// comma-separated. Default none: a single server at Addr.
	Addrs []string `yaml:"addrs"`
}

// Temporal configures the client of the Temporal frontend.
type Temporal struct {
	// Address is the frontend's host:port. Default "127.0.0.1:7233", where
	// `incident-server dev` serves its embedded server.
	Address string `yaml:"address"`
	// Namespace holds every incident workflow. Default "default".
	Namespace string `yaml:"namespace"`
	// TaskQueue is the queue workers poll. Default "incidents".
	TaskQueue string `yaml:"task_queue"`
}

// Push configures deliveries to push devices (through Gorush) and webhooks.
type Push struct {
	// GorushURL is the base URL of the Gorush server, e.g.
	// "http://127.0.0.1:58088". Default "": no Gorush, and push deliveries
	// go to a log sink instead of devices.
	GorushURL string `yaml:"gorush_url"`
	// Timeout bounds one request to Gorush. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// WebhookTimeout bounds one webhook delivery. Default 5s.
	WebhookTimeout time.Duration `yaml:"webhook_timeout"`
}

// Dev configures the embedded runtime of `incident-server dev` and is ignored
// by every other subcommand.
type Dev struct {
	// DataDir holds the embedded Temporal server's SQLite files. Default ".data/dev".
	DataDir string `yaml:"data_dir"`
	// TemporalPort is the embedded frontend's port on 127.0.0.1. Default 7233.
	TemporalPort int `yaml:"temporal_port"`
	// UIPort is the embedded Temporal Web UI's port on 127.0.0.1. Default 8233.
	UIPort int `yaml:"ui_port"`
	// TemporalDatabaseURL keeps the embedded Temporal server's state in
	// Postgres instead of the SQLite file under DataDir, as a Temporal
	// cluster does: a URL naming a database of Temporal's own, such as
	// "postgres://postgres@127.0.0.1:55432/temporal?sslmode=disable", with
	// visibility in <name>_visibility beside it. Both are created, and their
	// schemas set up by Temporal's own schema tool, when missing. It must
	// not be database.url's database. Default "": SQLite.
	TemporalDatabaseURL string `yaml:"temporal_database_url"`
}

// Logging configures the root logger and per-component levels.
type Logging struct {
	// Format is "json" or "text". Default "json".
	Format string `yaml:"format"`
	// Level is the level of loggers without a component entry: "debug",
	// "info", "warn" or "error". Default "info".
	Level string `yaml:"level"`
	// Components maps a component name to its level. Entries from YAML and
	// the environment are merged over the defaults, so setting one component
	// keeps the others. Default {database: warn, cache: warn, connectors: info,
	// api: info, websocket: debug, temporal_server: warn}. temporal_server is
	// the embedded Temporal server of `incident-server dev`, chatty at info.
	Components map[string]string `yaml:"components"`
}

// Auth configures who may call the REST API and how often.
type Auth struct {
	// JWTSecret signs and verifies user tokens (HS256); at least 32 bytes.
	// `api` refuses to start without it or JWTSecretFile; `dev` keeps a
	// generated one in dev.data_dir/jwt-secret. Default "".
	JWTSecret string `yaml:"jwt_secret"`
	// JWTSecretFile is read when JWTSecret is empty: a mounted secret.
	// Default "".
	JWTSecretFile string `yaml:"jwt_secret_file"`
	// MetricsPublic leaves /metrics open to anyone who can reach the port.
	// false requires a viewer credential there too. Default true.
	MetricsPublic bool `yaml:"metrics_public"`
	// RateLimit is each credential's sustained request rate on the REST
	// API, per second; 0 turns the limit off. Default 20.
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is how many requests a credential may send at once.
	// Default 40.
	RateBurst int `yaml:"rate_burst"`
	// EventsV2RateLimit is each integration key's sustained rate on the
	// Events API v2 endpoints, per second; over it they answer 429 as
	// PagerDuty does. 0 turns it off. Default 10.
	EventsV2RateLimit float64 `yaml:"events_v2_rate_limit"`
	// EventsV2RateBurst is the Events API v2 burst per key. Default 200.
	EventsV2RateBurst int `yaml:"events_v2_rate_burst"`
}

// Backup configures the scheduled database backup (the backup Temporal
// Schedule) and `incident-server restore`.
type Backup struct {
	// Cron is the schedule's cron expression, in UTC. "" turns the schedule
	// off: workers then delete it from Temporal instead of creating it, for
	// deployments that back up another way (the Kubernetes base's pg_dump
	// CronJob). Default "0 2 * * *" (daily at 02:00).
	Cron string `yaml:"cron"`
	// Dir receives the dump files, incidents_<UTC timestamp>.dump; created
	// when missing. It must be on the worker's file system. Default
	// ".data/backups".
	Dir string `yaml:"dir"`
	// Retention deletes dump files older than this after each successful
	// backup; the newest file is always kept. Default 72h (3 days).
	Retention time.Duration `yaml:"retention"`
	// PGBin is the directory holding pg_dump and pg_restore. Default "": look
	// in /usr/lib/postgresql/15/bin, then on PATH.
	PGBin string `yaml:"pg_bin"`
	// Timeout bounds one pg_dump plus its verification. Default 1h.
	Timeout time.Duration `yaml:"timeout"`
	// DatabaseURL is the database pg_dump reads and `incident-server
	// restore` writes, when it must differ from database.url: pg_dump needs
	// a session, which a PgBouncer in transaction mode does not give.
	// Default "": database.url.
	DatabaseURL string `yaml:"database_url"`
}

// BackupURL is the database the backups read and restore writes.
func (c Config) BackupURL() string {
	if c.Backup.DatabaseURL != "" {
		return c.Backup.DatabaseURL
	}
	return c.Database.URL
}

// Maintenance configures the scheduled database maintenance and
// reconciliation (the maintenance Temporal Schedule).
type Maintenance struct {
	// Cron is the schedule's cron expression, in UTC. Default "30 3 * * *"
	// (daily at 03:30).
	Cron string `yaml:"cron"`
	// Retention purges the timeline events and notifications of incidents
	// resolved longer ago than this; the incident rows stay. Default 2160h
	// (90 days).
	Retention time.Duration `yaml:"retention"`
	// ReconcileGrace skips incidents updated more recently than this when
	// looking for active incidents whose workflow is gone. Default 10m.
	ReconcileGrace time.Duration `yaml:"reconcile_grace"`
}

// Schedules configures the Temporal Schedules that every worker registers
// (or updates) at start-up, as `incident-server schedules sync` does.
type Schedules struct {
	// CatchupWindow is how late a missed run (Temporal was down at the
	// scheduled time) may still start; older missed runs are skipped.
	// Default 1h.
	CatchupWindow time.Duration `yaml:"catchup_window"`
}

// Default returns the built-in configuration. Each call returns fresh maps, so
// callers may modify the result.
func Default() Config {
	return Config{
		Service:     "incident-server",
		Environment: "development",
		Server: Server{
			Addr:            "127.0.0.1:8080",
			MaxConnections:  1000,
			ReadTimeout:     30 * time.Second,
			WriteTimeout:    30 * time.Second,
			IdleTimeout:     120 * time.Second,
			MaxBodyBytes:    1 << 20,
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
			IncidentCacheTTL: 300 * time.Second,
			UserCacheTTL:     3600 * time.Second,
			ConfigCacheTTL:   86400 * time.Second,
			MaxIdle:          20,
			MaxActive:        100,
			IdleTimeout:      240 * time.Second,
			DialTimeout:      2 * time.Second,
			ReadTimeout:      1 * time.Second,
			WriteTimeout:     1 * time.Second,
		},
		Temporal: Temporal{
			Address:   "127.0.0.1:7233",
			Namespace: "default",
			TaskQueue: "incidents",
		},
		Push: Push{
			Timeout:        10 * time.Second,
			WebhookTimeout: 5 * time.Second,
		},
		Dev: Dev{
			DataDir:      ".data/dev",
			TemporalPort: 7233,
			UIPort:       8233,
		},
		Logging: Logging{
			Format: "json",
			Level:  "info",
			Components: map[string]string{
				"database":        "warn",
				"cache":           "warn",
				"connectors":      "info",
				"api":             "info",
				"websocket":       "debug",
				"temporal_server": "warn",
			},
		},
		Auth: Auth{
			MetricsPublic:     true,
			RateLimit:         20,
			RateBurst:         40,
			EventsV2RateLimit: 10,
			EventsV2RateBurst: 200,
		},
		Backup: Backup{
			Cron:      "0 2 * * *",
			Dir:       ".data/backups",
			Retention: 72 * time.Hour,
			Timeout:   time.Hour,
		},
		Maintenance: Maintenance{
			Cron:           "30 3 * * *",
			Retention:      90 * 24 * time.Hour,
			ReconcileGrace: 10 * time.Minute,
		},
		Schedules: Schedules{
			CatchupWindow: time.Hour,
		},
	}
}

// Load reads the configuration from the process environment; see LoadFrom.
func Load(path string) (Config, error) {
	return LoadFrom(path, os.LookupEnv)
}

// LoadFrom builds the configuration: defaults, then the YAML file at path (or
// at $INCIDENT_CONFIG when path is empty; no file when both are empty), then
// environment overrides looked up with getenv, then Validate. Unknown YAML
// keys, unparsable values and invalid settings are errors naming the key,
// variable or field.
func LoadFrom(path string, getenv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	if path == "" {
		path, _ = getenv(PathEnv)
	}
	if path != "" {
		if err := cfg.decodeFile(path); err != nil {
			return Config{}, fmt.Errorf("load config: %w", err)
		}
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return Config{}, fmt.Errorf("load config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("load config: %w", err)
	}
	return cfg, nil
}

// removedKeys are settings that configuration files once carried and the
// engine no longer has, each with what to do instead. Like any unknown key
// they fail the load, but with a message that says they were removed
// rather than the decoder's "field not found". A key of a removed section
// stands for the whole section when none of its keys is listed.
var removedKeys = map[string]string{
	"cache": "the section configured an in-process cache that the engine does not have; delete the section " +
		"(cached entries expire in Redis after redis.incident_cache_ttl, redis.user_cache_ttl and redis.config_cache_ttl)",
	"cache.default_expiration": "no in-process cache exists for it to configure; delete it " +
		"(cached entries expire in Redis after redis.incident_cache_ttl, redis.user_cache_ttl and redis.config_cache_ttl)",
	"cache.cleanup_interval": "no in-process cache exists for it to configure; delete it (Redis expires entries itself)",
	"database.max_idle_conns": "the pgx pool has no idle-connection count; delete it " +
		"(database.conn_max_idle_time closes idle connections and database.max_open_conns caps the pool)",
}

// checkRemoved reports every key of removedKeys the YAML document sets, with
// its line.
func checkRemoved(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		// Left to the decoder, which reports syntax errors with their line.
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil
	}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		section, body := root.Content[i], root.Content[i+1]
		named := false
		if body.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(body.Content); j += 2 {
				key := section.Value + "." + body.Content[j].Value
				if why, ok := removedKeys[key]; ok {
					errs = append(errs, fmt.Errorf("line %d: %s was removed: %s", body.Content[j].Line, key, why))
					named = true
				}
			}
		}
		if why, ok := removedKeys[section.Value]; ok && !named {
			errs = append(errs, fmt.Errorf("line %d: %s was removed: %s", section.Line, section.Value, why))
		}
	}
	return errors.Join(errs...)
}

// decodeFile merges the YAML file over cfg. Keys absent from the file keep
// their current values; an empty file changes nothing.
func (c *Config) decodeFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := checkRemoved(data); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// field is one settable leaf of Config, addressed by its yaml path.
type field struct {
	path  string // "server.max_body_bytes"
	env   string // "INCIDENT_SERVER_MAX_BODY_BYTES"
	value reflect.Value
}

// fields walks cfg's yaml tags and returns every leaf that YAML can set, in
// declaration order.
func (c *Config) fields() []field {
	var out []field
	var walk func(v reflect.Value, path []string)
	walk = func(v reflect.Value, path []string) {
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "-" || name == "" || !sf.IsExported() {
				continue
			}
			p := append(append([]string(nil), path...), name)
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeFor[time.Duration]() {
				walk(fv, p)
				continue
			}
			out = append(out, field{
				path:  strings.Join(p, "."),
				env:   envPrefix + "_" + strings.ToUpper(strings.Join(p, "_")),
				value: fv,
			})
		}
	}
	walk(reflect.ValueOf(c).Elem(), nil)
	return out
}

// applyEnv applies the standard variables first and the systematic ones
// second, so INCIDENT_DATABASE_URL beats DATABASE_URL.
func (c *Config) applyEnv(getenv func(string) (string, bool)) error {
	fs := c.fields()
	byPath := make(map[string]field, len(fs))
	for _, f := range fs {
		byPath[f.path] = f
	}
	names := make([]string, 0, len(standardEnv))
	for name := range standardEnv {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, ok := byPath[standardEnv[name]]
		if !ok {
			panic("config: standard variable " + name + " maps to unknown field " + standardEnv[name])
		}
		if s, ok := getenv(name); ok {
			if err := setValue(f.value, s); err != nil {
				return fmt.Errorf("environment variable %s: %w", name, err)
			}
		}
	}
	for _, f := range fs {
		if s, ok := getenv(f.env); ok {
			if err := setValue(f.value, s); err != nil {
				return fmt.Errorf("environment variable %s: %w", f.env, err)
			}
		}
	}
	return nil
}

// setValue parses s into v. Durations are Go duration strings ("30s"), as in
// YAML; maps are "key=value,key=value" and merge into the existing entries.
func setValue(v reflect.Value, s string) error {
	if v.Type() == reflect.TypeFor[time.Duration]() {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("parse duration: %w", err)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("parse boolean: %w", err)
		}
		v.SetBool(b)
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("parse number: %w", err)
		}
		v.SetFloat(f)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("parse integer: %w", err)
		}
		v.SetInt(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported slice type %s", v.Type())
		}
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items))
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String || v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported map type %s", v.Type())
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for _, pair := range strings.Split(s, ",") {
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			k, val, ok := strings.Cut(pair, "=")
			k, val = strings.TrimSpace(k), strings.TrimSpace(val)
			if !ok || k == "" {
				return fmt.Errorf("entry %q is not key=value", pair)
			}
			v.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(val))
		}
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// temporalDatabase checks a Postgres URL for the embedded Temporal server's
// own database: it must name one, and not the engine's.
func temporalDatabase(raw, engine string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("scheme %q: want a postgres:// URL (or empty for SQLite)", u.Scheme)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if u.Host == "" || name == "" || strings.Contains(name, "/") {
		return errors.New("must name a host and a database: postgres://host:port/temporal")
	}
	if e, err := url.Parse(engine); err == nil && e.Host == u.Host && strings.TrimPrefix(e.Path, "/") == name {
		return fmt.Errorf("database %q is database.url's: Temporal needs a database of its own", name)
	}
	return nil
}

// ParseLevel maps a configured level name to its slog level. Names are
// case-insensitive: debug, info, warn, error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
}

// Validate reports every invalid setting, each prefixed by its yaml path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	nonEmpty := func(path, v string) {
		if strings.TrimSpace(v) == "" {
			bad(path, "must not be empty")
		}
	}
	hostPort := func(path, v string) {
		if strings.TrimSpace(v) == "" {
			bad(path, "must not be empty")
			return
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			bad(path, "%q is not host:port", v)
		}
	}
	positive := func(path string, v int64) {
		if v <= 0 {
			bad(path, "must be positive, got %d", v)
		}
	}
	positiveDur := func(path string, v time.Duration) {
		if v <= 0 {
			bad(path, "must be a positive duration, got %s", v)
		}
	}
	port := func(path string, v int) {
		if v < 1 || v > 65535 {
			bad(path, "must be a port between 1 and 65535, got %d", v)
		}
	}

	nonEmpty("service", c.Service)
	nonEmpty("environment", c.Environment)

	hostPort("server.addr", c.Server.Addr)
	positive("server.max_connections", int64(c.Server.MaxConnections))
	positiveDur("server.read_timeout", c.Server.ReadTimeout)
	positiveDur("server.write_timeout", c.Server.WriteTimeout)
	positiveDur("server.idle_timeout", c.Server.IdleTimeout)
	positive("server.max_body_bytes", c.Server.MaxBodyBytes)
	positiveDur("server.shutdown_timeout", c.Server.ShutdownTimeout)
	positive("server.alertmanager_max_body_bytes", c.Server.AlertmanagerMaxBodyBytes)
	if (c.Server.TLSCertFile == "") != (c.Server.TLSKeyFile == "") {
		bad("server.tls_cert_file", "and server.tls_key_file must be set together")
	}

	nonEmpty("database.url", c.Database.URL)
	positive("database.max_open_conns", int64(c.Database.MaxOpenConns))
	positiveDur("database.conn_max_lifetime", c.Database.ConnMaxLifetime)
	positiveDur("database.conn_max_idle_time", c.Database.ConnMaxIdleTime)
	if c.Database.QueryExecMode != "" && !slices.Contains(QueryExecModes, c.Database.QueryExecMode) {
		bad("database.query_exec_mode", "unknown mode %q (want one of %s)",
			c.Database.QueryExecMode, strings.Join(QueryExecModes, ", "))
	}

	hostPort("redis.addr", c.Redis.Addr)
	if c.Redis.DB < 0 {
		bad("redis.db", "must not be negative, got %d", c.Redis.DB)
	}
	for i, a := range c.Redis.Addrs {
		hostPort(fmt.Sprintf("redis.addrs[%d]", i), a)
	}
	if len(c.Redis.Addrs) > 0 && c.Redis.DB != 0 {
		bad("redis.db", "must be 0 with redis.addrs: a cluster has only database 0, got %d", c.Redis.DB)
	}
	positiveDur("redis.incident_cache_ttl", c.Redis.IncidentCacheTTL)
	positiveDur("redis.user_cache_ttl", c.Redis.UserCacheTTL)
	positiveDur("redis.config_cache_ttl", c.Redis.ConfigCacheTTL)
	positive("redis.max_active", int64(c.Redis.MaxActive))
	if c.Redis.MaxIdle < 0 || c.Redis.MaxIdle > c.Redis.MaxActive {
		bad("redis.max_idle", "must be between 0 and redis.max_active (%d), got %d",
			c.Redis.MaxActive, c.Redis.MaxIdle)
	}
	positiveDur("redis.idle_timeout", c.Redis.IdleTimeout)
	positiveDur("redis.dial_timeout", c.Redis.DialTimeout)
	positiveDur("redis.read_timeout", c.Redis.ReadTimeout)
	positiveDur("redis.write_timeout", c.Redis.WriteTimeout)

	hostPort("temporal.address", c.Temporal.Address)
	nonEmpty("temporal.namespace", c.Temporal.Namespace)
	nonEmpty("temporal.task_queue", c.Temporal.TaskQueue)

	if c.Push.GorushURL != "" {
		u, err := url.Parse(c.Push.GorushURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("push.gorush_url", "%q is not an absolute http or https URL (or empty for no Gorush)", c.Push.GorushURL)
		}
	}
	positiveDur("push.timeout", c.Push.Timeout)
	positiveDur("push.webhook_timeout", c.Push.WebhookTimeout)

	nonEmpty("dev.data_dir", c.Dev.DataDir)
	port("dev.temporal_port", c.Dev.TemporalPort)
	port("dev.ui_port", c.Dev.UIPort)
	if c.Dev.TemporalPort == c.Dev.UIPort {
		bad("dev.ui_port", "must differ from dev.temporal_port (%d)", c.Dev.TemporalPort)
	}
	if c.Dev.TemporalDatabaseURL != "" {
		if err := temporalDatabase(c.Dev.TemporalDatabaseURL, c.Database.URL); err != nil {
			bad("dev.temporal_database_url", "%v", err)
		}
	}

	switch c.Logging.Format {
	case "json", "text":
	default:
		bad("logging.format", "unknown format %q (want json or text)", c.Logging.Format)
	}
	if _, err := ParseLevel(c.Logging.Level); err != nil {
		bad("logging.level", "%v", err)
	}
	components := make([]string, 0, len(c.Logging.Components))
	for name := range c.Logging.Components {
		components = append(components, name)
	}
	sort.Strings(components)
	for _, name := range components {
		if strings.TrimSpace(name) == "" {
			bad("logging.components", "component name must not be empty")
			continue
		}
		if _, err := ParseLevel(c.Logging.Components[name]); err != nil {
			bad("logging.components."+name, "%v", err)
		}
	}

	if c.Auth.JWTSecret != "" && len(c.Auth.JWTSecret) < 32 {
		bad("auth.jwt_secret", "must be at least 32 bytes, got %d", len(c.Auth.JWTSecret))
	}
	if c.Auth.RateLimit < 0 || c.Auth.EventsV2RateLimit < 0 {
		bad("auth.rate_limit", "rates must not be negative")
	}
	if c.Auth.RateLimit > 0 && c.Auth.RateBurst < 1 {
		bad("auth.rate_burst", "must be at least 1 while auth.rate_limit is on, got %d", c.Auth.RateBurst)
	}
	if c.Auth.EventsV2RateLimit > 0 && c.Auth.EventsV2RateBurst < 1 {
		bad("auth.events_v2_rate_burst", "must be at least 1 while auth.events_v2_rate_limit is on, got %d", c.Auth.EventsV2RateBurst)
	}
	// Temporal parses the expression when the schedule is synced; this
	// catches the usual slips (a seconds field, a missing field) at start.
	cron := func(path, v, or string) {
		if !strings.HasPrefix(strings.TrimSpace(v), "@") && len(strings.Fields(v)) != 5 {
			bad(path, "%q is not a cron expression of five fields (minute hour day-of-month month day-of-week) or @daily-style%s", v, or)
		}
	}
	if c.Backup.Cron != "" {
		cron("backup.cron", c.Backup.Cron, `, or "" for no backup schedule`)
	}
	nonEmpty("backup.dir", c.Backup.Dir)
	positiveDur("backup.retention", c.Backup.Retention)
	positiveDur("backup.timeout", c.Backup.Timeout)
	cron("maintenance.cron", c.Maintenance.Cron, "")
	positiveDur("maintenance.retention", c.Maintenance.Retention)
	positiveDur("maintenance.reconcile_grace", c.Maintenance.ReconcileGrace)
	positiveDur("schedules.catchup_window", c.Schedules.CatchupWindow)

	if len(errs) > 0 {
		return fmt.Errorf("invalid config: %w", errors.Join(errs...))
	}
	return nil
}
