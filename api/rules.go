package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
)

// ruleRoutes registers a user's notification rules: GET and PUT of the
// whole set, both urgencies at once.
func (s *Server) ruleRoutes(v1 *gin.RouterGroup) {
	v1.GET("/users/:id/notification-rules", s.asViewer, s.getRules)
	v1.PUT("/users/:id/notification-rules", s.asAdmin, s.putRules)
}

func (s *Server) getRules(c *gin.Context) {
	rules, err := s.store.GetNotificationRules(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, rules)
}

// putRules replaces a user's rules. The body is {"high": [...], "low":
// [...]}, each a list of {"contact_method_id", "delay"}; a body read with
// GET may be sent back as it is (its user_id must be the URL's, updated_at
// is ignored). An empty list pages that urgency's incidents on every
// contact method at once.
func (s *Server) putRules(c *gin.Context) {
	var rules oncall.NotificationRules
	if err := s.decode(c, &rules); err != nil {
		s.abort(c, err)
		return
	}
	id := c.Param("id")
	if rules.UserID != "" && rules.UserID != id {
		s.abort(c, fault.InvalidField("user_id", "does not match the URL"))
		return
	}
	rules.UserID = id
	rules.Normalize()
	if err := rules.Validate(); err != nil {
		s.abort(c, err)
		return
	}
	auditTarget(c, id)
	cur, err := s.store.GetNotificationRules(c.Request.Context(), id)
	if err != nil {
		s.abort(c, err)
		return
	}
	auditBefore(c, cur)
	out, err := s.store.SetNotificationRules(c.Request.Context(), rules)
	if err != nil {
		s.abort(c, err)
		return
	}
	s.forget(c)
	auditAfter(c, out)
	c.JSON(http.StatusOK, out)
}
