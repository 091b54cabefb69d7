package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
)

// oncallRoutes registers the on-call configuration: users with their contact
// methods, escalation policies and services. Each is a plain resource:
// POST and GET on the collection, GET, PUT and DELETE on one item. They
// read and write Postgres only; none of them needs Temporal.
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
		out, err := r.create(c.Request.Context(), v)
		if err != nil {
			s.abort(c, err)
			return
		}
		s.forget(c)
		c.Header("Location", base+"/"+url.PathEscape(*r.id(&out)))
		c.JSON(http.StatusCreated, out)
	})

	v1.GET(r.path, s.asViewer, func(c *gin.Context) {
		items, err := r.list(c.Request.Context())
		if err != nil {
			s.abort(c, err)
			return
		}
		if items == nil {
			items = []T{}
		}
		c.JSON(http.StatusOK, gin.H{r.listKey: items})
	})

	v1.GET(item, s.asViewer, func(c *gin.Context) {
		out, err := r.get(c.Request.Context(), c.Param("id"))
		if err != nil {
			s.abort(c, err)
			return
		}
		c.JSON(http.StatusOK, out)
	})

	// PUT replaces the whole object, so a body read with GET and edited may
	// be sent back as it is: its id, if any, must be the URL's, and fields
	// the server sets (timestamps, version) are ignored.
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
		out, err := r.update(c.Request.Context(), v)
		if err != nil {
			s.abort(c, err)
			return
		}
		s.forget(c)
		c.JSON(http.StatusOK, out)
	})

	v1.DELETE(item, write, func(c *gin.Context) {
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

// forget retires the cached on-call configuration after a write, so the
// next page and the next incident read the change.
func (s *Server) forget(c *gin.Context) {
	if s.directory != nil {
		s.directory.Forget(c.Request.Context())
	}
}
