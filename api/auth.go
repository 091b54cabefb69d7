package api

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/fault"
)

const principalKey = "principal"

// require authenticates the request, counts it against its credential's
// rate limit and checks the credential's role: 401 without a valid
// credential, 429 over the limit, 403 with too weak a role. Every request
// that got past the credential and the rate limit and is not a GET is
// recorded in the audit trail once answered, refused ones included (see
// recordAudit).
func (s *Server) require(role auth.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		at := time.Now()
		p, err := s.authenticate(c)
		if err != nil {
			if fault.Is(err, fault.Unauthorized) {
				c.Header("WWW-Authenticate", `Bearer realm="incident-server"`)
			}
			s.abort(c, err)
			return
		}
		if !s.allow(c, "rest", p.RateKey(), s.rateLimit) {
			return
		}
		c.Set(principalKey, p)
		if !p.Role.Allows(role) {
			s.abort(c, fault.New(fault.Forbidden, fmt.Sprintf("this needs the %s role; the credential has %s", role, p.Role)))
			s.recordAudit(c, p, at)
			return
		}
		c.Next()
		s.recordAudit(c, p, at)
	}
}

// authenticate reads the bearer credential: an API key (ak_…) or a user
// token (a JWT); without an Authorization header, the web console's session
// cookie (see authenticateSession). Every way of failing is a 401 whose
// message says what to fix without saying which part of a secret was
// wrong, except a session used from elsewhere than the console or a
// console write without its CSRF token, which are 403.
func (s *Server) authenticate(c *gin.Context) (auth.Principal, error) {
	if c.GetHeader("Authorization") == "" {
		if cookie, err := c.Cookie(sessionCookie); err == nil && cookie != "" {
			return s.authenticateSession(c, cookie)
		}
	}
	cred := bearer(c)
	switch {
	case cred == "":
		return auth.Principal{}, fault.New(fault.Unauthorized, "a credential is required: send the header Authorization: Bearer followed by a user token or an API key")
	case strings.HasPrefix(cred, "ik_"):
		return auth.Principal{}, fault.New(fault.Unauthorized, "integration keys are accepted only by the alert ingestion endpoints")
	case strings.HasPrefix(cred, "ak_"):
		k, err := s.store.AuthenticateAPIKey(c.Request.Context(), cred)
		if err != nil {
			return auth.Principal{}, err
		}
		return auth.Principal{Kind: auth.KindAPIKey, Subject: k.ID, Name: k.Name, Role: auth.Role(k.Role)}, nil
	case s.tokens == nil:
		return auth.Principal{}, fault.New(fault.Unauthorized, "user tokens are not accepted by this server (no JWT secret is configured); use an API key")
	}
	claims, err := s.tokens.Verify(cred)
	if errors.Is(err, auth.ErrExpiredToken) {
		return auth.Principal{}, fault.New(fault.Unauthorized, "token expired: mint a new one")
	}
	if err != nil {
		return auth.Principal{}, fault.New(fault.Unauthorized, "invalid token")
	}
	return auth.Principal{Kind: auth.KindUser, Subject: claims.Subject, Role: claims.Role}, nil
}

// allow takes a token from key's bucket. Over the limit it answers 429
// with Retry-After and returns false. When Redis cannot answer, the request
// goes through: paging matters more than throttling. That is counted in
// rate_limiter_fail_open_total and logged at most every ten seconds.
func (s *Server) allow(c *gin.Context, scope, key string, limit auth.Limit) bool {
	if s.limiter == nil || !limit.Enabled() {
		return true
	}
	d, err := s.limiter.Allow(c.Request.Context(), key, limit)
	if err != nil {
		s.metrics.LimiterFailedOpen()
		if now := time.Now().UnixNano(); now-s.limiterLogged.Load() > int64(10*time.Second) {
			s.limiterLogged.Store(now)
			s.log.WarnContext(c.Request.Context(), "rate limiter unavailable; letting requests through unchecked", "error", err)
		}
		return true
	}
	if d.Allowed {
		return true
	}
	s.metrics.RateLimited(scope)
	c.Header("Retry-After", strconv.Itoa(int(math.Max(1, math.Ceil(d.RetryAfter.Seconds())))))
	if scope == "events_v2" {
		c.AbortWithStatusJSON(http.StatusTooManyRequests, gin.H{
			"status":  "throttle event",
			"message": "Requests for this integration key are arriving too quickly. Please retry later.",
		})
		return false
	}
	s.abort(c, fault.New(fault.RateLimited, "rate limit exceeded for this credential; retry after the Retry-After seconds"))
	return false
}

// principal is the caller require authenticated; the zero Principal on
// routes without require.
func principal(c *gin.Context) auth.Principal {
	p, _ := c.Get(principalKey)
	v, _ := p.(auth.Principal)
	return v
}

// actorOf is who the timeline records for a command: the authenticated
// caller. A body that names someone else (a chat bot acting for a person)
// is kept beside it, "api-key:chatops for alice", so the record shows both
// who asked and who was named, and nobody can act under another's name.
func actorOf(c *gin.Context, named string) string {
	who := principal(c).Actor()
	named = strings.TrimSpace(named)
	switch {
	case who == "":
		return named
	case named == "" || named == who:
		return who
	}
	return who + " for " + named
}

// securityHeaders are on every answer. The API serves JSON only: nothing
// may frame it, sniff it into another type, or keep a copy of it.
func (s *Server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if c.Request.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
	c.Next()
}

// TLSConfig is the server side of HTTPS when the API terminates TLS
// itself: TLS 1.2 and later, and for 1.2 the production guide's ECDHE
// AES-256-GCM suites only (1.3's suites are fixed by Go and all strong).
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load tls certificate: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		},
	}, nil
}
