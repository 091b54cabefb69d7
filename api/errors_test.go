package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
)

// The one map from error codes to HTTP statuses, and what a caller sees of
// each: the public message, except for internal errors, which say only
// that; 503 always carries Retry-After.
func TestEveryErrorCodeMapsToOneStatus(t *testing.T) {
	t.Parallel()
	want := map[fault.Code]int{
		fault.Invalid:          400,
		fault.NotFound:         404,
		fault.Conflict:         409,
		fault.Unauthorized:     401,
		fault.Forbidden:        403,
		fault.TooLarge:         413,
		fault.UnsupportedMedia: 415,
		fault.MethodNotAllowed: 405,
		fault.RateLimited:      429,
		fault.Unavailable:      503,
		fault.Internal:         500,
	}
	require.Len(t, want, len(fault.Codes), "every code is in the table")
	s := &Server{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name    string
		err     error
		code    fault.Code
		message string
	}{
		{"field", fault.InvalidField("title", "is required"), fault.Invalid, "title: is required"},
		{"missing noun", fmt.Errorf("get user usr_1: %w", fault.Missing("user")), fault.NotFound, "user not found"},
		{"conflict", fault.Conflictf("policy is used by service %s", "checkout"), fault.Conflict, "policy is used by service checkout"},
		{"unauthorized", fault.New(fault.Unauthorized, "invalid API key: unknown, revoked or expired"), fault.Unauthorized, "invalid API key: unknown, revoked or expired"},
		{"forbidden", fault.New(fault.Forbidden, "this needs the admin role"), fault.Forbidden, "this needs the admin role"},
		{"too large", fault.New(fault.TooLarge, "request body is larger than 10 bytes"), fault.TooLarge, "request body is larger than 10 bytes"},
		{"media", fault.New(fault.UnsupportedMedia, "Content-Type must be application/json"), fault.UnsupportedMedia, "Content-Type must be application/json"},
		{"method", fault.New(fault.MethodNotAllowed, "method not allowed on this route"), fault.MethodNotAllowed, "method not allowed on this route"},
		{"rate", fault.New(fault.RateLimited, "rate limit exceeded"), fault.RateLimited, "rate limit exceeded"},
		{"down, with its cause hidden", fault.Down("the database", errors.New("dial tcp 10.0.0.1:5432: connection refused")), fault.Unavailable, "the database is unavailable; retry shortly"},
		{"internal with a message", &fault.Error{Code: fault.Internal, Message: "secret detail", Err: errors.New("x")}, fault.Internal, "internal error"},
		{"no code at all", errors.New("nil pointer somewhere"), fault.Internal, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(rec)
			c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
			s.abort(c, tc.err)
			require.Equal(t, want[tc.code], rec.Code)
			var body errorBody
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, tc.code, body.Error.Code)
			require.Equal(t, tc.message, body.Error.Message)
			if tc.code == fault.Unavailable {
				require.Equal(t, retryAfter, rec.Header().Get("Retry-After"))
			} else {
				require.Empty(t, rec.Header().Get("Retry-After"))
			}
		})
	}
}
