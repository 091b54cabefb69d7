package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/workflows"
)

// Error codes a client may see. Each maps to one HTTP status.
const (
	CodeInvalid          = "invalid"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeTooLarge         = "too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooManyRequests  = "rate_limited"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

var statusOf = map[string]int{
	CodeInvalid:          http.StatusBadRequest,
	CodeNotFound:         http.StatusNotFound,
	CodeConflict:         http.StatusConflict,
	CodeUnauthorized:     http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeTooManyRequests:  http.StatusTooManyRequests,
	CodeUnavailable:      http.StatusServiceUnavailable,
	CodeInternal:         http.StatusInternalServerError,
}

// Error is an error a client is meant to read.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, msg string) *Error { return &Error{Code: code, Message: msg} }

// errorBody is the one error shape every endpoint answers with.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func newErrorBody(code, msg string) errorBody {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	return b
}

// abort answers the request with err. Anything that is not a client error
// is logged with the request ID and answered with a bare "internal error" or
// "unavailable": internal details never reach a response.
func (s *Server) abort(c *gin.Context, err error) {
	e := s.toError(err)
	if e.Code == CodeInternal || e.Code == CodeUnavailable {
		s.log.ErrorContext(c.Request.Context(), "request failed",
			"request_id", requestID(c), "route", c.FullPath(), "code", e.Code, "error", err)
	}
	if e.Code == CodeUnavailable {
		c.Header("Retry-After", "5")
	}
	c.AbortWithStatusJSON(statusOf[e.Code], newErrorBody(e.Code, e.Message))
}

// toError maps any error to the client-facing error it should become.
func (s *Server) toError(err error) *Error {
	var apiErr *Error
	var valErr *incident.ValidationError
	var ocErr *oncall.ValidationError
	var trErr *incident.TransitionError
	var appErr *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &valErr):
		return errorf(CodeInvalid, valErr.Error())
	case errors.As(err, &ocErr):
		return errorf(CodeInvalid, ocErr.Error())
	case errors.Is(err, store.ErrConflict):
		return errorf(CodeConflict, conflictMessage(err))
	case errors.As(err, &trErr):
		return errorf(CodeConflict, trErr.Error())
	case errors.Is(err, store.ErrNotFound):
		return errorf(CodeNotFound, "incident not found")
	case errors.Is(err, store.ErrInvalidCursor):
		return errorf(CodeInvalid, "cursor: is not one this server issued")
	case errors.As(err, &appErr):
		switch appErr.Type() {
		case workflows.ErrTypeInvalid:
			return errorf(CodeInvalid, appErr.Message())
		case workflows.ErrTypeConflict:
			return errorf(CodeConflict, appErr.Message())
		case workflows.ErrTypeNotFound:
			return errorf(CodeNotFound, appErr.Message())
		case workflows.ErrTypeRetry:
			return errorf(CodeUnavailable, appErr.Message())
		}
		return errorf(CodeInternal, "internal error")
	case errors.As(err, &notFound):
		// The incident's workflow has closed: it was resolved meanwhile.
		return errorf(CodeConflict, "incident is no longer open")
	case errors.Is(err, context.DeadlineExceeded), isUnavailable(err):
		return errorf(CodeUnavailable, "the incident engine is busy or unreachable; retry shortly")
	}
	return errorf(CodeInternal, "internal error")
}

// isUnavailable reports errors that a retry may cure: Temporal or Postgres
// not reachable, overloaded or timing out.
func isUnavailable(err error) bool {
	var unavailable *serviceerror.Unavailable
	var exhausted *serviceerror.ResourceExhausted
	var deadline *serviceerror.DeadlineExceeded
	var canceled *serviceerror.Canceled
	return errors.As(err, &unavailable) || errors.As(err, &exhausted) ||
		errors.As(err, &deadline) || errors.As(err, &canceled) || errors.Is(err, errUnavailable)
}

// conflictMessage is the text of a store conflict without the wrapping
// operation names: the part after the last ": conflict: ", or a generic line.
func conflictMessage(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ErrConflictSep); i >= 0 && i+len(ErrConflictSep) < len(msg) {
		return msg[i+len(ErrConflictSep):]
	}
	return "the request conflicts with the current data"
}

// ErrConflictSep separates a store conflict's kind from its explanation:
// fmt.Errorf("%w: policy is used by service checkout", store.ErrConflict)
// reads "…conflict: policy is used by service checkout".
const ErrConflictSep = "conflict: "

// errUnavailable wraps failures of a dependency (Postgres down, say).
var errUnavailable = errors.New("dependency unavailable")
