package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/secret"
)

// oncallRoutes registers the on-call configuration: users with their contact
// methods, escalation policies, services and on-call schedules (whose
// overrides, shifts, feeds and handoff subscriptions scheduleRoutes
// adds). Each is a plain resource: POST and GET on the collection, GET,
// PUT and DELETE on one item. They read and write Postgres; only a
// schedule's change is passed on to Temporal, best effort, to its handoff
// workflow.
func (s *Server) oncallRoutes(v1 *gin.RouterGroup) {
	register(s, v1, resource[oncall.User, *oncall.User]{
		noun:    "user",
		path:    "/users",
		listKey: "users",
		id:      func(u *oncall.User) *string { return &u.ID },
		create:  s.store.CreateUser,
		get:     s.store.GetUser,
		list:    s.store.ListUsers,
		update:  s.store.UpdateUser,
		delete:  s.store.DeleteUser,

		view:    redactUser,
		prepare: s.prepareUser,
	})
	register(s, v1, resource[oncall.Policy, *oncall.Policy]{
		noun:    "escalation policy",
		path:    "/escalation-policies",
		listKey: "escalation_policies",
		id:      func(p *oncall.Policy) *string { return &p.ID },
		create:  s.store.CreatePolicy,
		get:     s.store.GetPolicy,
		list:    s.store.ListPolicies,
		update:  s.store.UpdatePolicy,
		delete:  s.store.DeletePolicy,
	})
	register(s, v1, resource[oncall.SLAPolicy, *oncall.SLAPolicy]{
		noun:    "sla policy",
		path:    "/sla-policies",
		listKey: "sla_policies",
		id:      func(p *oncall.SLAPolicy) *string { return &p.ID },
		create:  s.store.CreateSLAPolicy,
		get:     s.store.GetSLAPolicy,
		list:    s.store.ListSLAPolicies,
		update:  s.store.UpdateSLAPolicy,
		delete:  s.store.DeleteSLAPolicy,
	})
	register(s, v1, resource[oncall.MaintenanceWindow, *oncall.MaintenanceWindow]{
		noun:    "maintenance window",
		path:    "/maintenance-windows",
		listKey: "maintenance_windows",
		id:      func(w *oncall.MaintenanceWindow) *string { return &w.ID },
		create:  s.store.CreateMaintenanceWindow,
		get:     s.store.GetMaintenanceWindow,
		list:    s.store.ListMaintenanceWindows,
		update:  s.store.UpdateMaintenanceWindow,
		delete:  s.store.DeleteMaintenanceWindow,

		responderWrites: true,
	})
	register(s, v1, resource[oncall.Service, *oncall.Service]{
		noun:    "service",
		path:    "/services",
		listKey: "services",
		id:      func(sv *oncall.Service) *string { return &sv.ID },
		create:  s.store.CreateService,
		get:     s.store.GetService,
		list:    s.store.ListServices,
		update:  s.store.UpdateService,
		delete:  s.store.DeleteService,

		beforeDelete: s.stopServiceHeartbeats,
	})
	register(s, v1, resource[oncall.Schedule, *oncall.Schedule]{
		noun:    "schedule",
		path:    "/schedules",
		listKey: "schedules",
		id:      func(sch *oncall.Schedule) *string { return &sch.ID },
		create:  s.store.CreateSchedule,
		get:     s.store.GetSchedule,
		list:    s.store.ListSchedules,
		update:  s.store.UpdateSchedule,
		delete:  s.store.DeleteSchedule,

		updated:      func(ctx context.Context, id string) { s.replan(ctx, id, "schedule updated") },
		beforeDelete: s.stopHandoffs,
	})
	s.scheduleRoutes(v1)
}

// editable is a pointer to an on-call type that a request body holds.
type editable[T any] interface {
	*T
	Normalize()
	Validate() error
}

// resource is one on-call collection and the store methods behind it.
type resource[T any, P editable[T]] struct {
	noun    string // in messages: "user not found"
	path    string // under /api/v1
	listKey string // the list's field in GET on the collection
	// id points at the object's ID. IDs in create bodies are ignored for
	// types whose IDs the store assigns (users, policies) and required for
	// services, whose ID is their name.
	id     func(*T) *string
	create func(context.Context, T) (T, error)
	get    func(context.Context, string) (T, error)
	list   func(context.Context) ([]T, error)
	update func(context.Context, T) (T, error)
	delete func(context.Context, string) error
	// responderWrites lets responders create, change and delete these, as
	// they must for maintenance windows during an outage; every other
	// resource is changed by admins only. Anyone may read.
	responderWrites bool
	// beforeDelete, when set, runs before an item is deleted; its error
	// answers the request and nothing is deleted.
	beforeDelete func(ctx context.Context, id string) error
	// updated, when set, runs after an item was updated, before the
	// answer; it cannot fail the request (what it does is best effort).
	updated func(ctx context.Context, id string)
	// view, when set, is the object as answers (and the audit trail) show
	// it: users' webhook URLs redacted. Default: as stored.
	view func(T) T
	// prepare, when set, readies a valid body for the store: cur is the
	// object as stored for an update, nil for a create. Its error answers
	// the request.
	prepare func(v *T, cur *T) error
}

func (r resource[T, P]) show(v T) T {
	if r.view != nil {
		return r.view(v)
	}
	return v
}

// register adds the five routes of r. Bodies are decoded strictly, then
// normalized and validated before the store sees them; the store also
// checks what only it can (that targets and policies exist, uniqueness).
// Create answers 201 with the object and its Location, get and update 200
// with the object, delete 204, and the list {"<listKey>": [...]}.
func register[T any, P editable[T]](s *Server, v1 *gin.RouterGroup, r resource[T, P]) {
	base := v1.BasePath() + r.path
	item := r.path + "/:id"

	write := s.asAdmin
	if r.responderWrites {
		write = s.asResponder
	}
	v1.POST(r.path, write, func(c *gin.Context) {
		var v T
		if err := s.decode(c, P(&v)); err != nil {
			s.abort(c, err)
			return
		}
		P(&v).Normalize()
		if err := P(&v).Validate(); err != nil {
			s.abort(c, err)
			return
		}
		if r.prepare != nil {
			if err := r.prepare(&v, nil); err != nil {
				s.abort(c, err)
				return
			}
		}
		out, err := r.create(c.Request.Context(), v)
		if err != nil {
			s.abort(c, err)
			return
		}
		s.forget(c)
		shown := r.show(out)
		auditTarget(c, *r.id(&out))
		auditAfter(c, shown)
		c.Header("Location", base+"/"+url.PathEscape(*r.id(&out)))
		c.JSON(http.StatusCreated, shown)
	})

	v1.GET(r.path, s.asViewer, func(c *gin.Context) {
		items, err := r.list(c.Request.Context())
		if err != nil {
			s.abort(c, err)
			return
		}
		shown := make([]T, len(items))
		for i, v := range items {
			shown[i] = r.show(v)
		}
		c.JSON(http.StatusOK, gin.H{r.listKey: shown})
	})

	v1.GET(item, s.asViewer, func(c *gin.Context) {
		out, err := r.get(c.Request.Context(), c.Param("id"))
		if err != nil {
			s.abort(c, err)
			return
		}
		c.JSON(http.StatusOK, r.show(out))
	})

	// PUT replaces the whole object, so a body read with GET and edited may
	// be sent back as it is: its id, if any, must be the URL's, fields the
	// server sets (timestamps, version) are ignored, and values the answer
	// redacted keep what is stored (see prepareUser).
	v1.PUT(item, write, func(c *gin.Context) {
		var v T
		if err := s.decode(c, P(&v)); err != nil {
			s.abort(c, err)
			return
		}
		P(&v).Normalize()
		id := r.id(&v)
		if *id != "" && *id != c.Param("id") {
			s.abort(c, fault.InvalidField("id", "does not match the URL"))
			return
		}
		*id = c.Param("id")
		if err := P(&v).Validate(); err != nil {
			s.abort(c, err)
			return
		}
		cur, err := r.get(c.Request.Context(), *id)
		if err != nil {
			s.abort(c, err)
			return
		}
		auditBefore(c, r.show(cur))
		if r.prepare != nil {
			if err := r.prepare(&v, &cur); err != nil {
				s.abort(c, err)
				return
			}
		}
		out, err := r.update(c.Request.Context(), v)
		if err != nil {
			s.abort(c, err)
			return
		}
		s.forget(c)
		if r.updated != nil {
			r.updated(c.Request.Context(), *id)
		}
		shown := r.show(out)
		auditAfter(c, shown)
		c.JSON(http.StatusOK, shown)
	})

	v1.DELETE(item, write, func(c *gin.Context) {
		cur, err := r.get(c.Request.Context(), c.Param("id"))
		if err != nil {
			s.abort(c, err)
			return
		}
		auditBefore(c, r.show(cur))
		if r.beforeDelete != nil {
			if err := r.beforeDelete(c.Request.Context(), c.Param("id")); err != nil {
				s.abort(c, err)
				return
			}
		}
		if err := r.delete(c.Request.Context(), c.Param("id")); err != nil {
			s.abort(c, err)
			return
		}
		s.forget(c)
		c.Status(http.StatusNoContent)
	})
}

// redactUser is a user as answers show it: webhook URLs by scheme and host
// only ("https://hooks.slack.com/…"), since their path is often the
// credential. Device tokens are shown: they address a device, they do not
// authorize anything.
func redactUser(u oncall.User) oncall.User {
	cms := make([]oncall.ContactMethod, len(u.ContactMethods))
	for i, c := range u.ContactMethods {
		if c.Type == oncall.ContactWebhook {
			c.URL = secret.Redact(c.URL)
		}
		cms[i] = c
	}
	u.ContactMethods = cms
	return u
}

// isRedacted reports whether a URL is in the form redactUser shows: a
// placeholder, never a webhook's address.
func isRedacted(u string) bool { return u == "…" || strings.HasSuffix(u, "/…") }

// prepareUser readies a user body for the store. A webhook URL sent back as
// answers show it (redacted) keeps the stored URL of the contact method
// with the same ID, so a user read, edited and sent back keeps its
// webhooks; a redacted URL that matches no stored one is refused, and a
// full URL replaces the stored one. Then every webhook URL whose host is
// an address the outbound policy refuses (http://169.254.169.254/…,
// http://127.0.0.1/…) is refused; host names are judged when a delivery
// dials them. An email, sms, voice or slack method whose channel the
// server has not configured is refused, unless it is stored already.
func (s *Server) prepareUser(u *oncall.User, cur *oncall.User) error {
	stored := map[string]string{}
	have := map[oncall.ContactMethod]bool{}
	if cur != nil {
		for _, c := range cur.ContactMethods {
			if c.Type == oncall.ContactWebhook {
				stored[c.ID] = c.URL
			}
			have[oncall.ContactMethod{ID: c.ID, Type: c.Type, Address: c.Address}] = true
		}
	}
	for i := range u.ContactMethods {
		cm := &u.ContactMethods[i]
		if cm.Type.Addressed() && !slices.Contains(s.inbound.Channels, string(cm.Type)) &&
			!have[oncall.ContactMethod{ID: cm.ID, Type: cm.Type, Address: cm.Address}] {
			// Refused when added, not dropped at page time. A method saved
			// while the channel was on is kept as it is.
			return fault.InvalidField(fmt.Sprintf("contact_methods[%d].type", i),
				fmt.Sprintf("%s is not configured on this server (notifications.%s in its configuration)", cm.Type, channelSection(cm.Type)))
		}
		if cm.Type != oncall.ContactWebhook {
			continue
		}
		field := fmt.Sprintf("contact_methods[%d].url", i)
		if isRedacted(cm.URL) {
			was, ok := stored[cm.ID]
			if !ok || cm.ID == "" || secret.Redact(was) != cm.URL {
				return fault.InvalidField(field, "is a redacted URL: send the whole URL, or send the contact method back with its id to keep the stored one")
			}
			cm.URL = was
		}
		if s.outbound == nil {
			continue
		}
		if err := s.outbound.CheckURL(cm.URL); err != nil {
			msg := err.Error()
			if re, ok := errors.AsType[*outbound.RefusedError](err); ok {
				msg = fmt.Sprintf("points at %s, a %s address, which webhooks may not reach (outbound.allow lists exceptions)", re.Addr, re.Reason)
			}
			return fault.InvalidField(field, msg)
		}
	}
	return nil
}

// channelSection is the configuration section that turns on the channel of
// contact type t.
func channelSection(t oncall.ContactType) string {
	if t == oncall.ContactSMS || t == oncall.ContactVoice {
		return "twilio"
	}
	return string(t)
}

// forget retires the cached on-call configuration after a write, so the
// next page and the next incident read the change.
func (s *Server) forget(c *gin.Context) {
	if s.directory != nil {
		s.directory.Forget(c.Request.Context())
	}
}
