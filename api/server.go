// Package api is the HTTP transport of the engine: gin routes, request and
// response shapes, and the one mapping from errors to HTTP statuses. It
// changes incident state only through Temporal; it reads lists and timelines
// from the Postgres projection.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/console"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/engine"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/live"
	"github.com/incident-server/incident-server/internal/metrics"
	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/slack"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/store"
)

// Options configure the API. Temporal and Store are required.
type Options struct {
	Temporal client.Client
	Store    *store.Store
	// Cache serves single-incident reads before Postgres. Nil disables it.
	Cache *cache.Cache
	// Directory is told when on-call configuration changes, to retire what
	// it cached, and answers who is on call. Nil: on-call answers are
	// computed from Postgres and nothing is cached.
	Directory *directory.Directory
	// Metrics records request counts and latencies and serves /metrics.
	// Nil creates a private registry.
	Metrics *metrics.Registry
	// Logger for failed requests. Default: discarded.
	Logger *slog.Logger
	// TaskQueue that incident workflows start on. Default
	// contract.DefaultTaskQueue.
	TaskQueue string
	// MaxBodyBytes caps request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// UpdateTimeout bounds a call that waits for a workflow to answer
	// (open, acknowledge, …): past it the caller gets 503 and may retry.
	// Default 10 s.
	UpdateTimeout time.Duration
	// ReadyTimeout bounds each dependency check of /health/ready. Default 2 s.
	ReadyTimeout time.Duration

	// Tokens verifies user tokens (JWTs). Nil: only API keys are accepted.
	Tokens *auth.Tokens
	// Limiter enforces RateLimit per credential and EventsV2Limit per
	// integration key. Nil: no rate limits.
	Limiter       *auth.Limiter
	RateLimit     auth.Limit
	EventsV2Limit auth.Limit
	// MetricsAuth closes /metrics to callers without a viewer credential.
	// Default false: /metrics is open.
	MetricsAuth bool
	// AlertmanagerMaxBody caps Alertmanager webhook bodies. Default 4 MiB.
	AlertmanagerMaxBody int64
	// Outbound is the policy webhook URLs are checked against when they are
	// saved: one whose host is an address it refuses is a 400. Nil checks
	// nothing here; deliveries are still checked when they dial.
	Outbound *outbound.Client
	// Live feeds the web console's live views (GET /api/v1/stream). Nil:
	// the stream tells the console to poll.
	Live *live.Hub
	// Console configures the web console's sign-in and live views.
	Console ConsoleOptions
	// Inbound configures the channels: which contact methods may be added,
	// and the routes that take answers to pages (SMS replies, keypresses,
	// Slack buttons, acknowledge links). The zero value takes none.
	Inbound Inbound
}

// Inbound is what the API knows of the channels pages go out through.
type Inbound struct {
	// Links verifies acknowledge links and keypress tokens and names the
	// public URL Twilio signs its webhooks for. Nil: the link and Twilio
	// routes refuse everything.
	Links *notify.Links
	// TwilioAccountSID and TwilioAuthToken verify Twilio's webhooks: the
	// signature is keyed with the token, and the account must be this
	// one. Empty: the Twilio routes answer 404.
	TwilioAccountSID string
	TwilioAuthToken  string
	// SlackSigningSecret verifies the interactions of Slack's buttons.
	// Empty: the Slack route answers 404.
	SlackSigningSecret string
	// Slack looks up who pressed a button (users.info) and answers them
	// (response_url, chat.update). Required with SlackSigningSecret.
	Slack *slack.Client
	// Channels are the contact method types the server can page besides
	// push and webhook ("email", "sms", "voice", "slack"): a method of
	// another type is refused when it is added.
	Channels []string
}

// Server holds the API's dependencies.
type Server struct {
	engine    *engine.Client
	store     *store.Store
	cache     *cache.Cache
	directory *directory.Directory
	metrics   *metrics.Registry
	log       *slog.Logger
	maxBody   int64
	readyTTL  time.Duration

	tokens        *auth.Tokens
	limiter       *auth.Limiter
	rateLimit     auth.Limit
	eventsLimit   auth.Limit
	metricsAuth   bool
	amMaxBody     int64
	limiterLogged atomic.Int64
	outbound      *outbound.Client
	hub           *live.Hub
	console       ConsoleOptions
	inbound       Inbound

	// Route guards: authenticate, rate-limit, then check the role.
	asViewer, asResponder, asAdmin gin.HandlerFunc
}

// New returns the API's HTTP handler.
func New(opts Options) http.Handler {
	s := &Server{
		engine:    &engine.Client{Temporal: opts.Temporal, TaskQueue: opts.TaskQueue, Timeout: opts.UpdateTimeout},
		store:     opts.Store,
		cache:     opts.Cache,
		directory: opts.Directory,
		metrics:   opts.Metrics,
		log:       opts.Logger,
		maxBody:   opts.MaxBodyBytes,
		readyTTL:  opts.ReadyTimeout,

		tokens:      opts.Tokens,
		limiter:     opts.Limiter,
		rateLimit:   opts.RateLimit,
		eventsLimit: opts.EventsV2Limit,
		metricsAuth: opts.MetricsAuth,
		amMaxBody:   opts.AlertmanagerMaxBody,
		outbound:    opts.Outbound,
		hub:         opts.Live,
		console:     opts.Console,
		inbound:     opts.Inbound,
	}
	s.console.defaults()
	if s.amMaxBody <= 0 {
		s.amMaxBody = 4 << 20
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.directory == nil {
		s.directory = directory.New(s.store, nil, 0, 0, s.log)
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	if s.readyTTL <= 0 {
		s.readyTTL = 2 * time.Second
	}
	return s.routes()
}

// routes registers every route. Each /api/v1 route names the weakest role
// that may call it (asViewer, asResponder, asAdmin); the ingestion
// endpoints authenticate integration keys instead, the inbound channel
// routes the signature of Twilio, of Slack or of an acknowledge link, and
// /health, /health/ready and /api/v1/openapi.json are open. Every route
// but the console's files is described in openapi.yaml, and the tests fail
// when a route and the document disagree.
func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(s.recoverer, s.securityHeaders, s.observe)
	r.NoRoute(func(c *gin.Context) { s.abort(c, fault.New(fault.NotFound, "no such route")) })
	r.NoMethod(func(c *gin.Context) {
		s.abort(c, fault.New(fault.MethodNotAllowed, "method not allowed on this route"))
	})
	s.asViewer, s.asResponder, s.asAdmin = s.require(auth.Viewer), s.require(auth.Responder), s.require(auth.Admin)

	r.GET("/health", s.health)
	r.GET("/health/ready", s.ready)
	metrics := gin.WrapH(s.metrics.Handler())
	if s.metricsAuth {
		r.GET("/metrics", s.asViewer, metrics)
	} else {
		r.GET("/metrics", metrics)
	}

	v1 := r.Group("/api/v1")
	v1.GET("/openapi.json", s.openAPI)
	v1.POST("/incidents", s.asResponder, s.openIncident)
	v1.GET("/incidents", s.asViewer, s.listIncidents)
	v1.GET("/incidents/:id", s.asViewer, s.getIncident)
	v1.GET("/incidents/:id/timeline", s.asViewer, s.timeline)
	v1.POST("/incidents/:id/acknowledge", s.asResponder, s.transition(incident.ActionAcknowledge))
	v1.POST("/incidents/:id/mitigate", s.asResponder, s.transition(incident.ActionMitigate))
	v1.POST("/incidents/:id/resolve", s.asResponder, s.transition(incident.ActionResolve))
	v1.POST("/incidents/:id/escalate", s.asResponder, s.escalate)
	v1.POST("/incidents/:id/snooze", s.asResponder, s.snooze)
	v1.POST("/incidents/:id/reassign", s.asResponder, s.reassign)
	v1.POST("/incidents/:id/notes", s.asResponder, s.addNote)
	v1.GET("/incidents/:id/notifications", s.asViewer, s.notifications)
	v1.GET("/incidents/:id/alerts", s.asViewer, s.alerts)
	s.oncallRoutes(v1)
	s.ruleRoutes(v1)
	s.inboundRoutes(r)
	s.integrationRoutes(v1)
	s.apiKeyRoutes(v1)
	s.ingestRoutes(r, v1)
	s.heartbeatRoutes(v1)
	s.auditRoutes(v1)
	s.runbookRoutes(v1)
	s.sessionRoutes(v1)
	s.streamRoutes(v1)
	s.consoleRoutes(r)
	return r
}

// consoleRoutes serves the web console's files, open to anyone: they hold
// no data, and every data call they make goes through /api/v1.
func (s *Server) consoleRoutes(r *gin.Engine) {
	h, err := console.New()
	if err != nil {
		// The files are embedded: only a broken build gets here.
		panic("load the web console: " + err.Error())
	}
	r.GET("/console/*path", gin.WrapH(h))
}

const requestIDKey = "request_id"

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// observe gives every request an ID (the caller's X-Request-ID when it is
// sane), then counts and times it under its route template.
func (s *Server) observe(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !validRequestID.MatchString(id) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-ID", id)
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	if c.GetBool(streamingKey) {
		// How long a page kept its live feed open says nothing of latency.
		s.metrics.CountHTTP(c.Request.Method, route, c.Writer.Status())
		return
	}
	s.metrics.ObserveHTTP(c.Request.Method, route, c.Writer.Status(), time.Since(start))
}

func requestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// recoverer turns a panic into a logged 500 so one bad request never takes
// the process down.
func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.log.ErrorContext(c.Request.Context(), "panic serving request",
				"request_id", requestID(c), "route", c.FullPath(), "panic", v)
			if !c.Writer.Written() {
				c.AbortWithStatusJSON(http.StatusInternalServerError, newErrorBody(fault.Internal, "internal error"))
			}
		}
	}()
	c.Next()
}

func (s *Server) health(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// ready checks every dependency at once and names those that failed. The
// API is ready when Postgres and Temporal answer: Redis is never the
// source of truth (reads fall back to Postgres, the limiter fails open), so
// Redis down is reported as degraded, not unready.
func (s *Server) ready(c *gin.Context) {
	checks := map[string]func(context.Context) error{
		"postgres": s.store.Ping,
		"temporal": s.engine.Ready,
	}
	optional := map[string]bool{}
	if s.cache != nil {
		checks["redis"] = s.cache.Ping
		optional["redis"] = true
	}
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(checks))
	for name, check := range checks {
		go func() {
			ctx, cancel := context.WithTimeout(c.Request.Context(), s.readyTTL)
			defer cancel()
			results <- result{name, check(ctx)}
		}()
	}
	status := map[string]string{}
	var failed, degraded []string
	for range checks {
		r := <-results
		if r.err != nil {
			status[r.name] = "unavailable"
			if optional[r.name] {
				degraded = append(degraded, r.name)
			} else {
				failed = append(failed, r.name)
			}
			s.log.WarnContext(c.Request.Context(), "readiness check failed", "dependency", r.name, "error", r.err)
			continue
		}
		status[r.name] = "ok"
	}
	if len(failed) > 0 {
		body := newErrorBody(fault.Unavailable, "not ready: "+joinSorted(failed)+" unreachable")
		c.Header("Retry-After", retryAfter)
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": body.Error, "checks": status})
		return
	}
	answer := gin.H{"status": "ready", "checks": status}
	if len(degraded) > 0 {
		answer["degraded"] = sortedCopy(degraded)
	}
	c.JSON(http.StatusOK, answer)
}

func sortedCopy(names []string) []string {
	out := append([]string(nil), names...)
	slices.Sort(out)
	return out
}
