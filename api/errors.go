package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/fault"
)

// statusOf is the one map from an error's code to the HTTP status that
// answers it. Every error a handler meets carries a code (package fault):
// the store's, the domain's, the engine's (Temporal's refusals) and the
// API's own; one without is internal.
var statusOf = map[fault.Code]int{
	fault.Invalid:          http.StatusBadRequest,
	fault.NotFound:         http.StatusNotFound,
	fault.Conflict:         http.StatusConflict,
	fault.Unauthorized:     http.StatusUnauthorized,
	fault.Forbidden:        http.StatusForbidden,
	fault.TooLarge:         http.StatusRequestEntityTooLarge,
	fault.UnsupportedMedia: http.StatusUnsupportedMediaType,
	fault.MethodNotAllowed: http.StatusMethodNotAllowed,
	fault.RateLimited:      http.StatusTooManyRequests,
	fault.Unavailable:      http.StatusServiceUnavailable,
	fault.Internal:         http.StatusInternalServerError,
}

// retryAfter is the Retry-After of a 503: long enough for a restarting
// dependency or a worker taking over, short enough that a pager retries
// promptly.
const retryAfter = "5"

// errorBody is the one error shape every endpoint answers with.
type errorBody struct {
	Error struct {
		Code    fault.Code `json:"code"`
		Message string     `json:"message"`
	} `json:"error"`
}

func newErrorBody(code fault.Code, msg string) errorBody {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	return b
}

// answer is the code, status and message err is answered with. Internal
// details never reach a response: an internal error says only that.
func answer(err error) (fault.Code, int, string) {
	code := fault.CodeOf(err)
	status, ok := statusOf[code]
	if !ok {
		code, status = fault.Internal, http.StatusInternalServerError
	}
	msg := "internal error"
	if e, ok := fault.As(err); ok && code != fault.Internal {
		msg = e.Public()
	}
	return code, status, msg
}

// abort answers the request with err. Internal and unavailable errors are
// logged with the request ID; a 503 carries Retry-After.
func (s *Server) abort(c *gin.Context, err error) {
	code, status, msg := answer(err)
	if code == fault.Internal || code == fault.Unavailable {
		s.log.ErrorContext(c.Request.Context(), "request failed",
			"request_id", requestID(c), "route", c.FullPath(), "code", string(code), "error", err)
	}
	if code == fault.Unavailable {
		c.Header("Retry-After", retryAfter)
	}
	c.AbortWithStatusJSON(status, newErrorBody(code, msg))
}
