package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/store"
)

// integrationRoutes registers a service's integration keys: create, list and
// revoke. The key itself is in the create answer only; the store keeps a
// hash of it, so a lost key is revoked and replaced, never read back.
func (s *Server) integrationRoutes(v1 *gin.RouterGroup) {
	v1.POST("/services/:id/integration-keys", s.asAdmin, s.createIntegrationKey)
	v1.GET("/services/:id/integration-keys", s.asAdmin, s.listIntegrationKeys)
	v1.DELETE("/services/:id/integration-keys/:key_id", s.asAdmin, s.revokeIntegrationKey)
}

// createdIntegrationKey is the create answer: the key's metadata and, this
// one time, the key.
type createdIntegrationKey struct {
	store.IntegrationKey
	Key string `json:"key"`
}

func (s *Server) createIntegrationKey(c *gin.Context) {
	var req struct {
		Name string `json:"name"`
	}
	if err := s.decode(c, &req); err != nil {
		s.abort(c, err)
		return
	}
	k, key, err := s.store.CreateIntegrationKey(c.Request.Context(), c.Param("id"), req.Name)
	if err != nil {
		s.abort(c, err)
		return
	}
	auditTarget(c, k.ID)
	auditAfter(c, k) // the key's metadata: the key itself is never recorded
	// The body holds a credential: no cache along the way may keep it.
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, createdIntegrationKey{IntegrationKey: k, Key: key})
}

func (s *Server) listIntegrationKeys(c *gin.Context) {
	keys, err := s.store.ListIntegrationKeys(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.abort(c, err)
		return
	}
	if keys == nil {
		keys = []store.IntegrationKey{}
	}
	c.JSON(http.StatusOK, gin.H{"integration_keys": keys})
}

// revokeIntegrationKey answers 204 for a key already revoked too, so a
// retried DELETE succeeds; the key stays listed with its revocation time.
func (s *Server) revokeIntegrationKey(c *gin.Context) {
	ctx, service, id := c.Request.Context(), c.Param("id"), c.Param("key_id")
	if k, ok := s.findIntegrationKey(ctx, service, id); ok {
		auditBefore(c, k)
	}
	if err := s.store.RevokeIntegrationKey(ctx, service, id); err != nil {
		s.abort(c, err)
		return
	}
	if k, ok := s.findIntegrationKey(ctx, service, id); ok {
		auditAfter(c, k)
	}
	c.Status(http.StatusNoContent)
}

// findIntegrationKey reads one key of a service for the audit trail; a
// failed read leaves the trail without it.
func (s *Server) findIntegrationKey(ctx context.Context, service, id string) (store.IntegrationKey, bool) {
	keys, err := s.store.ListIntegrationKeys(ctx, service)
	if err != nil {
		return store.IntegrationKey{}, false
	}
	for _, k := range keys {
		if k.ID == id {
			return k, true
		}
	}
	return store.IntegrationKey{}, false
}

// integrationService authenticates an integration key sent with an alert
// and returns the one service the sender may send alerts for. When it
// returns false it has answered the request: 401 for any key that does not
// authenticate, with one message whatever was wrong with it, or 503 when
// the database cannot tell.
func (s *Server) integrationService(c *gin.Context, key string) (string, bool) {
	k, err := s.store.AuthenticateIntegrationKey(c.Request.Context(), key)
	if err != nil {
		if fault.Is(err, fault.Unauthorized) {
			c.Header("WWW-Authenticate", `Bearer realm="incident-server integrations"`)
		}
		s.abort(c, err)
		return "", false
	}
	return k.ServiceID, true
}
