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
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/incident-server/incident-server/internal/notify/email"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/secret"
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
	Worker   Worker   `yaml:"worker"`
	Push     Push     `yaml:"push"`
	Dev      Dev      `yaml:"dev"`
	Logging  Logging  `yaml:"logging"`
	Auth     Auth     `yaml:"auth"`
	Console  Console  `yaml:"console"`

	Notifications Notifications `yaml:"notifications"`

	Outbound Outbound `yaml:"outbound"`
	Secrets  Secrets  `yaml:"secrets"`
	Runbooks Runbooks `yaml:"runbooks"`

	Backup      Backup      `yaml:"backup"`
	Maintenance Maintenance `yaml:"maintenance"`
	Schedules   Schedules   `yaml:"schedules"`
}

// Development reports whether the configuration is a development one
// (environment: development), where webhooks may reach private addresses by
// default and a missing secrets.keys falls back to a key kept on disk.
func (c Config) Development() bool { return c.Environment == "development" }

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

// Worker configures the Temporal worker's memory and concurrency. An
// incident waiting on its timers costs the worker nothing but the cache
// entry it holds while it is in StickyCacheSize; an evicted one replays its
// (short) history when its next task arrives.
type Worker struct {
	// StickyCacheSize is how many workflows the worker process keeps in
	// memory between their tasks. Default 2048.
	StickyCacheSize int `yaml:"sticky_cache_size"`
	// MaxConcurrentWorkflowTasks caps workflow tasks run at once. Default 200.
	MaxConcurrentWorkflowTasks int `yaml:"max_concurrent_workflow_tasks"`
	// MaxConcurrentActivities caps activities (pages, backups) run at
	// once. Default 200.
	MaxConcurrentActivities int `yaml:"max_concurrent_activities"`
	// MaxConcurrentLocalActivities caps local activities (the projection's
	// writes) run at once. Default 200.
	MaxConcurrentLocalActivities int `yaml:"max_concurrent_local_activities"`
	// WorkflowPollers and ActivityPollers are the long polls kept open for
	// each kind of task. Default 4 each.
	WorkflowPollers int `yaml:"workflow_pollers"`
	ActivityPollers int `yaml:"activity_pollers"`
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

// Notifications configures the channels pages go out through besides push
// and webhooks (email over SMTP, SMS and voice through Twilio, Slack) and
// the links pages carry. A channel whose section is left empty is off:
// contact methods of its types are refused when they are added.
type Notifications struct {
	// PublicURL is where people's browsers and Twilio reach the API,
	// "https://incidents.example.com": acknowledge links, voice keypress
	// callbacks and the URLs Twilio signs its webhooks for start with it.
	// Required by twilio and by acknowledge links. Default "".
	PublicURL string `yaml:"public_url"`
	// IncidentURL is the link to an incident in pages, "{id}" standing for
	// its ID ("https://console.example.com/incidents/{id}"). Default "":
	// public_url + "/api/v1/incidents/{id}", or no link without public_url.
	IncidentURL string `yaml:"incident_url"`
	// AckLinkSecret signs the one-click acknowledge links in emails, push
	// data and webhook bodies, and the keypress token of voice pages; at
	// least 32 bytes. Default "": pages carry no acknowledge link.
	AckLinkSecret string `yaml:"ack_link_secret"`
	// AckLinkTTL is how long an acknowledge link works after its page was
	// due. Default 24h.
	AckLinkTTL time.Duration `yaml:"ack_link_ttl"`

	Email  Email  `yaml:"email"`
	Twilio Twilio `yaml:"twilio"`
	Slack  Slack  `yaml:"slack"`
}

// Email configures pages by email, over SMTP.
type Email struct {
	// SMTPHost is the SMTP server; setting it turns email on. Certificates
	// are verified against it. Default "": email off.
	SMTPHost string `yaml:"smtp_host"`
	// SMTPPort defaults (0) to 587 for starttls, 465 for implicit and 25
	// for none.
	SMTPPort int `yaml:"smtp_port"`
	// TLS is "starttls" (upgrade before anything else; a server without
	// STARTTLS is refused), "implicit" (SMTPS) or "none" (a relay on the
	// same host). Default "starttls".
	TLS string `yaml:"tls"`
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN once TLS is up. Default "".
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// From is the sender, "Incident Server <pager@example.com>". Required
	// with smtp_host.
	From string `yaml:"from"`
	// InsecureAuth allows AUTH without TLS, to a loopback smtp_host only.
	// Default false.
	InsecureAuth bool `yaml:"insecure_auth"`
	// CAFile is a PEM file of the certificates to trust for the server's
	// TLS besides the host's roots (a private CA, a development server's
	// self-signed certificate). Default "".
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one message, from dialling to the server's last
	// answer. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// Twilio configures SMS and voice pages through Twilio, and the webhooks
// Twilio sends back (SMS replies, voice keypresses).
type Twilio struct {
	// AccountSID ("AC…") turns SMS and voice on. Default "": off.
	AccountSID string `yaml:"account_sid"`
	// AuthToken authenticates the API calls and verifies Twilio's webhook
	// signatures. Required with account_sid.
	AuthToken string `yaml:"auth_token"`
	// FromNumber is the sending number, E.164 ("+15005550006"). Required
	// with account_sid.
	FromNumber string `yaml:"from_number"`
	// BaseURL is Twilio's REST API, or a regional edge or proxy in front
	// of it. Default "https://api.twilio.com".
	BaseURL string `yaml:"base_url"`
	// Timeout bounds one API call. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// Slack configures pages through a Slack app and the interactions of their
// buttons.
type Slack struct {
	// BotToken ("xoxb-…", scopes chat:write, users:read, users:read.email)
	// turns Slack on. Default "": off.
	BotToken string `yaml:"bot_token"`
	// SigningSecret verifies the interaction requests Slack sends when a
	// button is pressed. Required with bot_token.
	SigningSecret string `yaml:"signing_secret"`
	// BaseURL is Slack's Web API. Default "https://slack.com/api".
	BaseURL string `yaml:"base_url"`
	// Timeout bounds one API call. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// Enabled lists the contact method types the configuration can page
// besides push and webhook: "email", "sms" and "voice", "slack".
func (n Notifications) Enabled() []string {
	var out []string
	if n.Email.SMTPHost != "" {
		out = append(out, "email")
	}
	if n.Twilio.AccountSID != "" {
		out = append(out, "sms", "voice")
	}
	if n.Slack.BotToken != "" {
		out = append(out, "slack")
	}
	return out
}

// Outbound configures calls to URLs that users type (webhook contact
// methods): which addresses they may reach and how they are signed.
type Outbound struct {
	// AllowPrivate lets outbound calls reach loopback, link-local (cloud
	// metadata), private and other internal addresses. Unset, it follows
	// the environment: true in development, false everywhere else; set,
	// it wins either way. Read it with Config.OutboundAllowsPrivate.
	// Default unset.
	AllowPrivate *bool `yaml:"allow_private"`
	// Allow lists internal destinations that outbound calls may reach all
	// the same: CIDRs ("10.20.0.0/16"), addresses, or host names (exact,
	// case-insensitive), as outbound.Options.Allow. In the environment they
	// are comma-separated. Default none.
	Allow []string `yaml:"allow"`
	// SigningSecret, when set, signs every webhook body with
	// X-Incident-Signature (HMAC-SHA256, see internal/outbound); at least
	// 32 bytes. Default "": unsigned.
	SigningSecret string `yaml:"signing_secret"`
}

// OutboundAllowsPrivate is outbound.allow_private when it is set, and
// otherwise whether the environment is development.
func (c Config) OutboundAllowsPrivate() bool {
	if c.Outbound.AllowPrivate != nil {
		return *c.Outbound.AllowPrivate
	}
	return c.Development()
}

// Runbooks configures runbook action steps. Their calls go through the
// outbound policy (outbound.allow_private, outbound.allow) and are signed
// with outbound.signing_secret.
type Runbooks struct {
	// Secrets are values action steps' header templates name with
	// {{secret "name"}} (an Authorization header, say), so a runbook never
	// holds one: they are read by the worker when it makes the call and
	// never enter a workflow history. Names are letters, digits, '_', '-'
	// and '.'. In the environment: "name=value,name=value" (values without
	// commas). Default none.
	Secrets map[string]string `yaml:"secrets"`
}

// Secrets configures the keys that seal secrets stored in Postgres
// (webhook URLs).
type Secrets struct {
	// Keys is the keyring: entries "<id>:<base64 of 32 random bytes>", the
	// first being the primary, which seals; the others only open values
	// sealed before a rotation. `incident-server secrets generate-key`
	// prints a new entry. In the environment they are comma-separated.
	// Outside development `api` and `worker` refuse to start without keys;
	// in development a key kept in dev.data_dir/secrets-key stands in.
	// Default none.
	Keys []string `yaml:"keys"`
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

// Console configures the web console served under /console/: sign-in
// (login links, sessions) and live updates.
type Console struct {
	// PublicURL is the console's external base URL, e.g.
	// "https://incidents.example.com", used in login links. Default "":
	// links minted through the API use the scheme and host the request
	// came to, and `token create --login` uses http(s)://<server.addr>.
	PublicURL string `yaml:"public_url"`
	// SessionTTL is how long a console session lasts; one opened with a
	// pasted user token ends no later than the token. Default 12h.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// LoginLinkTTL is how long a login link stays valid when its request
	// names no TTL (at most 24h). Default 15m.
	LoginLinkTTL time.Duration `yaml:"login_link_ttl"`
	// PollInterval is how often the console reloads what it shows while
	// live updates are off (Redis unreachable). Default 5s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// StreamMaxLen is about how many change notices the Redis Stream of
	// live updates keeps (XADD MAXLEN ~): a browser that was away for
	// fewer than this many changes resumes without reloading. Default 10000.
	StreamMaxLen int64 `yaml:"stream_max_len"`
	// TemporalUIURL is the Temporal Web UI's base URL; each incident page
	// links its workflow there. Default "": no link (`dev` links its
	// embedded Web UI).
	TemporalUIURL string `yaml:"temporal_ui_url"`
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
	// AuditRetention deletes audit events older than this. Default 8760h
	// (365 days).
	AuditRetention time.Duration `yaml:"audit_retention"`
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
		Worker: Worker{
			StickyCacheSize:              2048,
			MaxConcurrentWorkflowTasks:   200,
			MaxConcurrentActivities:      200,
			MaxConcurrentLocalActivities: 200,
			WorkflowPollers:              4,
			ActivityPollers:              4,
		},
		Push: Push{
			Timeout:        10 * time.Second,
			WebhookTimeout: 5 * time.Second,
		},
		Notifications: Notifications{
			AckLinkTTL: 24 * time.Hour,
			Email:      Email{TLS: "starttls", Timeout: 30 * time.Second},
			Twilio:     Twilio{BaseURL: "https://api.twilio.com", Timeout: 10 * time.Second},
			Slack:      Slack{BaseURL: "https://slack.com/api", Timeout: 10 * time.Second},
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
		Console: Console{
			SessionTTL:   12 * time.Hour,
			LoginLinkTTL: 15 * time.Minute,
			PollInterval: 5 * time.Second,
			StreamMaxLen: 10000,
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
			AuditRetention: 365 * 24 * time.Hour,
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
	case reflect.Pointer:
		// An optional setting (nil: unset); a value from the environment sets it.
		p := reflect.New(v.Type().Elem())
		if err := setValue(p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
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

// validSecretName reports whether s may name a runbook secret.
func validSecretName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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

	positive("worker.sticky_cache_size", int64(c.Worker.StickyCacheSize))
	positive("worker.max_concurrent_workflow_tasks", int64(c.Worker.MaxConcurrentWorkflowTasks))
	positive("worker.max_concurrent_activities", int64(c.Worker.MaxConcurrentActivities))
	positive("worker.max_concurrent_local_activities", int64(c.Worker.MaxConcurrentLocalActivities))
	positive("worker.workflow_pollers", int64(c.Worker.WorkflowPollers))
	positive("worker.activity_pollers", int64(c.Worker.ActivityPollers))

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

	c.validateNotifications(bad)

	if _, err := outbound.NewClient(outbound.Options{Allow: c.Outbound.Allow}); err != nil {
		bad("outbound.allow", "%v", err)
	}
	if c.Outbound.SigningSecret != "" && len(c.Outbound.SigningSecret) < 32 {
		bad("outbound.signing_secret", "must be at least 32 bytes, got %d", len(c.Outbound.SigningSecret))
	}
	if len(c.Secrets.Keys) > 0 {
		// The keyring's errors name a key by position and ID, never by its bytes.
		if _, err := secret.NewKeyring(c.Secrets.Keys); err != nil {
			bad("secrets.keys", "%v (`incident-server secrets generate-key` prints a valid entry)", err)
		}
	}

	for _, name := range sortedKeys(c.Runbooks.Secrets) {
		if !validSecretName(name) {
			bad("runbooks.secrets", "%q is not a secret name (letters, digits, '_', '-' and '.')", name)
		}
	}

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
	for _, u := range []struct{ path, v string }{{"console.public_url", c.Console.PublicURL}, {"console.temporal_ui_url", c.Console.TemporalUIURL}} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(u.path, "%q is not an absolute http or https URL (or empty)", u.v)
		}
	}
	positiveDur("console.session_ttl", c.Console.SessionTTL)
	positiveDur("console.login_link_ttl", c.Console.LoginLinkTTL)
	if c.Console.LoginLinkTTL > 24*time.Hour {
		bad("console.login_link_ttl", "must be at most 24h, got %s", c.Console.LoginLinkTTL)
	}
	positiveDur("console.poll_interval", c.Console.PollInterval)
	positive("console.stream_max_len", c.Console.StreamMaxLen)
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
	positiveDur("maintenance.audit_retention", c.Maintenance.AuditRetention)
	positiveDur("schedules.catchup_window", c.Schedules.CatchupWindow)

	if len(errs) > 0 {
		return fmt.Errorf("invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// e164 is a phone number in E.164 form.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// validateNotifications checks the notifications section: each channel is
// either off (its turning key empty) or complete.
func (c Config) validateNotifications(bad func(path, format string, args ...any)) {
	n := c.Notifications
	absolute := func(path, v string) bool {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(path, "%q is not an absolute http or https URL", v)
			return false
		}
		return true
	}
	if n.PublicURL != "" && absolute("notifications.public_url", n.PublicURL) {
		if u, _ := url.Parse(n.PublicURL); u.RawQuery != "" || u.Fragment != "" {
			bad("notifications.public_url", "must not have a query or fragment")
		}
	}
	if n.IncidentURL != "" && absolute("notifications.incident_url", n.IncidentURL) && !strings.Contains(n.IncidentURL, "{id}") {
		bad("notifications.incident_url", "must contain {id}, where the incident's ID goes")
	}
	if n.AckLinkSecret != "" {
		if len(n.AckLinkSecret) < 32 {
			bad("notifications.ack_link_secret", "must be at least 32 bytes, got %d", len(n.AckLinkSecret))
		}
		if n.PublicURL == "" {
			bad("notifications.ack_link_secret", "needs notifications.public_url: links start with it")
		}
	}
	positiveDur := func(path string, v time.Duration) {
		if v <= 0 {
			bad(path, "must be a positive duration, got %s", v)
		}
	}
	positiveDur("notifications.ack_link_ttl", n.AckLinkTTL)

	e := n.Email
	if e.SMTPHost != "" {
		if _, err := email.New(email.Options{Host: e.SMTPHost, Port: e.SMTPPort, TLS: email.TLSMode(e.TLS), Username: e.Username,
			Password: e.Password, From: e.From, InsecureAuth: e.InsecureAuth, HelloName: "localhost"}); err != nil {
			bad("notifications.email", "%v", err)
		}
	} else if e.From != "" || e.Username != "" || e.CAFile != "" {
		bad("notifications.email.smtp_host", "is required to send email (the section sets other keys)")
	}
	positiveDur("notifications.email.timeout", e.Timeout)

	t := n.Twilio
	switch {
	case t.AccountSID != "":
		if t.AuthToken == "" {
			bad("notifications.twilio.auth_token", "is required with account_sid")
		}
		if !e164.MatchString(t.FromNumber) {
			bad("notifications.twilio.from_number", "%q is not a phone number in E.164 form, like +15005550006", t.FromNumber)
		}
		if n.PublicURL == "" || n.AckLinkSecret == "" {
			bad("notifications.twilio", "needs notifications.public_url and notifications.ack_link_secret: Twilio's webhooks "+
				"are verified against the public URL, and voice pages carry a signed keypress token")
		}
	case t.AuthToken != "" || t.FromNumber != "":
		bad("notifications.twilio.account_sid", "is required to send SMS and voice pages (the section sets other keys)")
	}
	absolute("notifications.twilio.base_url", t.BaseURL)
	positiveDur("notifications.twilio.timeout", t.Timeout)

	sl := n.Slack
	switch {
	case sl.BotToken != "":
		if sl.SigningSecret == "" {
			bad("notifications.slack.signing_secret", "is required with bot_token: the buttons' interactions are verified with it")
		}
	case sl.SigningSecret != "":
		bad("notifications.slack.bot_token", "is required to post pages to Slack (the section sets signing_secret)")
	}
	absolute("notifications.slack.base_url", sl.BaseURL)
	positiveDur("notifications.slack.timeout", sl.Timeout)
}
