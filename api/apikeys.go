package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/store"
)

// apiKeyRoutes registers API keys, admin only: create (the key is in the
// answer, once), list and revoke.
func (s *Server) apiKeyRoutes(v1 *gin.RouterGroup) {
	v1.POST("/api-keys", s.asAdmin, s.createAPIKey)
	v1.GET("/api-keys", s.asAdmin, s.listAPIKeys)
	v1.DELETE("/api-keys/:id", s.asAdmin, s.revokeAPIKey)
}

// apiKeyRequest is the create body: {"name", "role", "expires_at"}; the
// expiry (RFC 3339) is optional.
type apiKeyRequest struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

type createdAPIKey struct {
	store.APIKey
	Key string `json:"key"`
}

func (s *Server) createAPIKey(c *gin.Context) {
	var req apiKeyRequest
	if err := s.decode(c, &req); err != nil {
		s.abort(c, err)
		return
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		s.abort(c, fault.InvalidField("role", "must be one of viewer, responder, admin"))
		return
	}
	k, key, err := s.store.CreateAPIKey(c.Request.Context(), store.NewAPIKey{
		Name: req.Name, Role: string(role), ExpiresAt: req.ExpiresAt, CreatedBy: principal(c).Actor(),
	})
	if err != nil {
		s.abort(c, err)
		return
	}
	auditTarget(c, k.ID)
	auditAfter(c, k) // the key's metadata: the key itself is never recorded
	c.JSON(http.StatusCreated, createdAPIKey{APIKey: k, Key: key})
}

func (s *Server) listAPIKeys(c *gin.Context) {
	keys, err := s.store.ListAPIKeys(c.Request.Context())
	if err != nil {
		s.abort(c, err)
		return
	}
	if keys == nil {
		keys = []store.APIKey{}
	}
	c.JSON(http.StatusOK, gin.H{"api_keys": keys})
}

// revokeAPIKey answers 204 for a key already revoked too, so a retried
// DELETE succeeds. A key may revoke itself.
func (s *Server) revokeAPIKey(c *gin.Context) {
	ctx, id := c.Request.Context(), c.Param("id")
	if k, ok := s.findAPIKey(ctx, id); ok {
		auditBefore(c, k)
	}
	if err := s.store.RevokeAPIKey(ctx, id); err != nil {
		s.abort(c, err)
		return
	}
	if k, ok := s.findAPIKey(ctx, id); ok {
		auditAfter(c, k)
	}
	c.Status(http.StatusNoContent)
}

// findAPIKey reads one API key for the audit trail; a failed read leaves
// the trail without it.
func (s *Server) findAPIKey(ctx context.Context, id string) (store.APIKey, bool) {
	keys, err := s.store.ListAPIKeys(ctx)
	if err != nil {
		return store.APIKey{}, false
	}
	for _, k := range keys {
		if k.ID == id {
			return k, true
		}
	}
	return store.APIKey{}, false
}
