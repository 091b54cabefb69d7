package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
)

// Sign-in to the web console. Nothing here stores a password: a user
// proves who they are with a one-time login link an admin (or the CLI)
// minted, or with a user token they paste, and gets a session kept in
// Postgres, so signing out revokes it at once. The session travels in an
// HttpOnly, SameSite=Strict cookie (Secure when the request came over
// TLS); the authentication middleware accepts it beside bearer
// credentials, for same-origin requests only, and a request that changes
// something must also carry the session's CSRF token in the X-CSRF-Token
// header (see authenticateSession).

const (
	// sessionCookie holds "<session id>.<secret>".
	sessionCookie = "incident_session"
	// csrfHeader carries the session's CSRF token on writes.
	csrfHeader = "X-CSRF-Token"
	// maxLoginLinkTTL bounds how long a login link may stay valid: it is a
	// credential sent over mail or chat.
	maxLoginLinkTTL = 24 * time.Hour
)

// ConsoleOptions configure the web console's sign-in and live views. The
// zero value is valid: every zero field takes the default noted beside it.
type ConsoleOptions struct {
	// PublicURL is the console's external base URL ("https://incidents.example.com"),
	// used in login links. Default: the scheme and host of the request that
	// asks for the link.
	PublicURL string
	// SessionTTL is how long a session lasts. Default 12 h.
	SessionTTL time.Duration
	// LoginLinkTTL is how long a login link stays valid when its request
	// names no TTL. Default 15 min.
	LoginLinkTTL time.Duration
	// PollInterval is how often the console reloads what it shows while
	// live updates are off (Redis unreachable). Default 5 s.
	PollInterval time.Duration
	// TemporalUIURL is the Temporal Web UI's base URL; each incident page
	// links its workflow there. Default "": no link.
	TemporalUIURL string
	// Namespace is the Temporal namespace of the workflows, for those links.
	Namespace string
}

func (o *ConsoleOptions) defaults() {
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.LoginLinkTTL <= 0 {
		o.LoginLinkTTL = 15 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	o.TemporalUIURL = strings.TrimRight(o.TemporalUIURL, "/")
}

// sessionRoutes registers sign-in, the current session and sign-out, and
// login links (admins).
func (s *Server) sessionRoutes(v1 *gin.RouterGroup) {
	v1.POST("/sessions", s.createSession)
	v1.GET("/session", s.asViewer, s.currentSession)
	v1.DELETE("/session", s.asViewer, s.endSession)
	v1.POST("/login-links", s.asAdmin, s.createLoginLink)
}

// signInBody is POST /sessions: exactly one of a login link's token (the
// part of the link after '#') or a user token.
type signInBody struct {
	Login string `json:"login,omitempty"`
	Token string `json:"token,omitempty"`
}

// sessionView answers sign-in and GET /session: who is signed in, and what
// the console needs to work.
type sessionView struct {
	User       string     `json:"user"`
	Role       auth.Role  `json:"role"`
	Credential auth.Kind  `json:"credential"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	// CSRFToken is sent back in X-CSRF-Token on every write made with the
	// session cookie; present for sessions only.
	CSRFToken string      `json:"csrf_token,omitempty"`
	Console   consoleInfo `json:"console"`
}

type consoleInfo struct {
	TemporalUIURL string `json:"temporal_ui_url,omitempty"`
	Namespace     string `json:"namespace"`
	PollSeconds   int    `json:"poll_seconds"`
}

func (s *Server) consoleInfo() consoleInfo {
	return consoleInfo{TemporalUIURL: s.console.TemporalUIURL, Namespace: s.console.Namespace,
		PollSeconds: max(1, int(s.console.PollInterval/time.Second))}
}

// createSession signs in: it redeems a login link, or checks a pasted user
// token, opens a session, and sets its cookie. 201 with the session; 401
// for a link or token that does not authenticate. The sign-in is recorded
// in the audit trail under the new session.
func (s *Server) createSession(c *gin.Context) {
	at := time.Now()
	var body signInBody
	if err := s.decode(c, &body); err != nil {
		s.abort(c, err)
		return
	}
	body.Login, body.Token = strings.TrimSpace(body.Login), strings.TrimSpace(body.Token)
	var (
		ses    store.Session
		cookie string
		err    error
	)
	switch {
	case (body.Login == "") == (body.Token == ""):
		s.abort(c, fault.New(fault.Invalid, "send either login (the code after # in a login link) or token (a user token)"))
		return
	case body.Login != "":
		ses, cookie, err = s.store.RedeemLoginLink(c.Request.Context(), body.Login, s.console.SessionTTL)
	default:
		ses, cookie, err = s.tokenSession(c, body.Token)
	}
	if err != nil {
		s.abort(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: cookie, Path: "/", Expires: ses.ExpiresAt,
		HttpOnly: true, Secure: overTLS(c.Request), SameSite: http.SameSiteStrictMode,
	})
	p := auth.Principal{Kind: auth.KindSession, Subject: ses.Subject, Role: auth.Role(ses.Role), SessionID: ses.ID}
	c.Set(principalKey, p)
	auditTarget(c, ses.ID)
	exp := ses.ExpiresAt
	c.JSON(http.StatusCreated, sessionView{User: ses.Subject, Role: p.Role, Credential: p.Kind, ExpiresAt: &exp,
		CSRFToken: csrfToken(cookie), Console: s.consoleInfo()})
	s.recordAudit(c, p, at)
}

// tokenSession opens a session for a pasted user token, ending no later
// than the token would. API keys and integration keys are for automation
// and are refused.
func (s *Server) tokenSession(c *gin.Context, token string) (store.Session, string, error) {
	if strings.HasPrefix(token, "ak_") || strings.HasPrefix(token, "ik_") {
		return store.Session{}, "", fault.InvalidField("token", "API keys and integration keys are for automation; sign in with a user token or a login link")
	}
	if s.tokens == nil {
		return store.Session{}, "", fault.New(fault.Unauthorized, "user tokens are not accepted by this server (no JWT secret is configured); use a login link")
	}
	claims, err := s.tokens.Verify(token)
	if errors.Is(err, auth.ErrExpiredToken) {
		return store.Session{}, "", fault.New(fault.Unauthorized, "token expired: mint a new one")
	}
	if err != nil {
		return store.Session{}, "", fault.New(fault.Unauthorized, "invalid token")
	}
	expires := time.Now().Add(s.console.SessionTTL)
	if tokenEnd := time.Unix(claims.ExpiresAt, 0); tokenEnd.Before(expires) {
		expires = tokenEnd
	}
	return s.store.CreateSession(c.Request.Context(), store.NewSession{
		Subject: claims.Subject, Role: string(claims.Role), Method: store.SessionByToken, ExpiresAt: expires,
	})
}

// currentSession answers who the credential is and, for a session, its
// CSRF token.
func (s *Server) currentSession(c *gin.Context) {
	p := principal(c)
	v := sessionView{User: p.Actor(), Role: p.Role, Credential: p.Kind, Console: s.consoleInfo()}
	if p.Kind == auth.KindSession {
		if ses, ok := c.Get(sessionKey); ok {
			exp := ses.(store.Session).ExpiresAt
			v.ExpiresAt = &exp
		}
		if cookie, err := c.Cookie(sessionCookie); err == nil {
			v.CSRFToken = csrfToken(cookie)
		}
	}
	c.JSON(http.StatusOK, v)
}

// endSession signs out: it revokes the session at once and clears its
// cookie. With another credential there is nothing to revoke: 204 all the
// same.
func (s *Server) endSession(c *gin.Context) {
	if p := principal(c); p.Kind == auth.KindSession {
		if err := s.store.RevokeSession(c.Request.Context(), p.SessionID); err != nil {
			s.abort(c, err)
			return
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: overTLS(c.Request), SameSite: http.SameSiteStrictMode,
	})
	c.Status(http.StatusNoContent)
}

// loginLinkBody is POST /login-links.
type loginLinkBody struct {
	User string          `json:"user"`
	Role string          `json:"role"`
	TTL  oncall.Duration `json:"ttl,omitempty"`
}

// loginLinkView answers POST /login-links: the link, shown this once.
type loginLinkView struct {
	store.LoginLink
	URL string `json:"url"`
}

// createLoginLink mints a one-time login link for a user and role. 201
// with the link; it works once, until expires_at.
func (s *Server) createLoginLink(c *gin.Context) {
	var body loginLinkBody
	if err := s.decode(c, &body); err != nil {
		s.abort(c, err)
		return
	}
	user := strings.TrimSpace(body.User)
	if user == "" || utf8.RuneCountInString(user) > auth.MaxSubjectLen {
		s.abort(c, fault.InvalidField("user", "must be 1 to 200 characters"))
		return
	}
	role, err := auth.ParseRole(body.Role)
	if err != nil {
		s.abort(c, fault.InvalidField("role", "must be one of viewer, responder, admin"))
		return
	}
	ttl := body.TTL.D()
	switch {
	case ttl == 0:
		ttl = s.console.LoginLinkTTL
	case ttl < 0 || ttl > maxLoginLinkTTL:
		s.abort(c, fault.InvalidField("ttl", "must be positive and at most 24h"))
		return
	}
	link, token, err := s.store.CreateLoginLink(c.Request.Context(), store.NewLoginLink{
		Subject: user, Role: string(role), ExpiresAt: time.Now().Add(ttl), CreatedBy: principal(c).Actor(),
	})
	if err != nil {
		s.abort(c, err)
		return
	}
	auditTarget(c, link.ID)
	c.JSON(http.StatusCreated, loginLinkView{LoginLink: link, URL: LoginURL(s.publicURL(c), token)})
}

// LoginURL is the link that signs in with a login link's token: the
// console's sign-in page, the token in the fragment, so it never reaches a
// server log, a proxy or a Referer header. Opening it does not use it up
// (mail scanners open links): the page's script redeems it.
func LoginURL(base, token string) string {
	return strings.TrimRight(base, "/") + "/console/login#" + token
}

// publicURL is the console's base URL: as configured, else the request's
// own scheme and host (the admin asking for a link reached us there).
func (s *Server) publicURL(c *gin.Context) string {
	if s.console.PublicURL != "" {
		return s.console.PublicURL
	}
	scheme := "http"
	if overTLS(c.Request) {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// overTLS reports whether the browser reached us over TLS: directly, or
// through a proxy that terminated it and says so. Believing the header
// can only make the cookie stricter (Secure), never weaker.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sessionKey holds the store.Session of a request authenticated by cookie.
const sessionKey = "session"

// authenticateSession authenticates the session cookie. It accepts only
// what the console itself sends: same-origin requests (by Sec-Fetch-Site
// and Origin, when the browser sends them; SameSite=Strict already keeps
// the cookie off cross-site requests), and for anything but GET and HEAD
// the session's CSRF token in X-CSRF-Token. A forged write is 403.
func (s *Server) authenticateSession(c *gin.Context, cookie string) (auth.Principal, error) {
	ses, err := s.store.AuthenticateSession(c.Request.Context(), cookie)
	if err != nil {
		return auth.Principal{}, err
	}
	safe := c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead
	if !sameOrigin(c.Request, safe) {
		return auth.Principal{}, fault.New(fault.Forbidden, "the console session is accepted only on requests from the console's own pages")
	}
	if !safe {
		got := c.GetHeader(csrfHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(cookie))) != 1 {
			return auth.Principal{}, fault.New(fault.Forbidden, "a request made with the console session that changes something must carry its CSRF token in the "+csrfHeader+" header")
		}
	}
	c.Set(sessionKey, ses)
	return auth.Principal{Kind: auth.KindSession, Subject: ses.Subject, Role: auth.Role(ses.Role), SessionID: ses.ID}, nil
}

// sameOrigin reports whether the browser says the request comes from a
// page of ours. Sec-Fetch-Site "none" (an address typed by the user) is
// same-origin enough for reads.
func sameOrigin(r *http.Request, safe bool) bool {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin":
	case "none":
		if !safe {
			return false
		}
	default:
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	return true
}

// csrfToken is the anti-forgery token of the session whose cookie value
// is cookie: derived from the session's secret, so it needs no storage,
// and nobody holding only the stored hash (or another session) can compute
// it. A page on another origin cannot read it: it is answered by GET
// /api/v1/session, which the same-origin policy keeps from other sites.
func csrfToken(cookie string) string {
	sum := sha256.Sum256([]byte("incident-server csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
