// Package fault is the engine's one error vocabulary. Every error a caller
// may act on carries a Code, and, where it helps, the field at fault or the
// noun that was not found. The store, the domain and the workflows' update
// validators all speak it; activities turn it into Temporal application
// errors once (the Code is the error type); the API maps each Code to one
// HTTP status. Anything else is an internal error, whose details are logged
// and never shown.
//
// The package imports only the standard library, so the domain packages may
// use it.
package fault

import (
	"errors"
	"fmt"
)

// Code is what kind of failure an error is: what the caller may do about it.
type Code string

// The codes. Their strings are recorded as Temporal application error types
// and sent to API clients: never rename one.
const (
	// Invalid: the request can never succeed as sent.
	Invalid Code = "invalid"
	// NotFound: what the request names does not exist.
	NotFound Code = "not_found"
	// Conflict: the request is illegal in the current state.
	Conflict Code = "conflict"
	// Unauthorized: no credential, or one that is not valid.
	Unauthorized Code = "unauthorized"
	// Forbidden: a valid credential without the role the request needs.
	Forbidden Code = "forbidden"
	// TooLarge: the request body is over its limit.
	TooLarge Code = "too_large"
	// UnsupportedMedia: the request body is not JSON.
	UnsupportedMedia Code = "unsupported_media_type"
	// MethodNotAllowed: the route exists, not with this method.
	MethodNotAllowed Code = "method_not_allowed"
	// RateLimited: the caller sent too much; retry after a while.
	RateLimited Code = "rate_limited"
	// Unavailable: a dependency is down, busy or in a passing state; the
	// same request may succeed if sent again shortly.
	Unavailable Code = "unavailable"
	// Internal: a bug or an unexpected failure. Never retried for you.
	Internal Code = "internal"
)

// Codes lists every code, for tables and tests.
var Codes = []Code{Invalid, NotFound, Conflict, Unauthorized, Forbidden, TooLarge,
	UnsupportedMedia, MethodNotAllowed, RateLimited, Unavailable, Internal}

// Retryable reports whether a request that failed with c may succeed when
// sent again unchanged.
func (c Code) Retryable() bool { return c == Unavailable || c == RateLimited }

// Error is an error with a code. Its Message (with the field in front) is
// safe to show to the caller; Err, the cause, is for logs only.
type Error struct {
	Code Code
	// Field names the input at fault, for Invalid: "title", "steps[1].delay".
	Field string
	// Noun names what was not found, for NotFound: "incident", "user".
	Noun    string
	Message string
	// Err is the underlying cause, kept for errors.Is/As and logs.
	Err error
}

// Public is the text a caller may see: the field, then the message.
func (e *Error) Public() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Error is Public followed by the cause, if any.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Public() + ": " + e.Err.Error()
	}
	return e.Public()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of code c with message msg.
func New(c Code, msg string) *Error { return &Error{Code: c, Message: msg} }

// Newf returns an error of code c with a formatted message.
func Newf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// InvalidField says why one input field is wrong: "title: is required".
func InvalidField(field, msg string) *Error { return &Error{Code: Invalid, Field: field, Message: msg} }

// Missing says that noun ("incident", "escalation policy") does not exist.
func Missing(noun string) *Error {
	return &Error{Code: NotFound, Noun: noun, Message: noun + " not found"}
}

// Conflictf says why the current state forbids the request.
func Conflictf(format string, args ...any) *Error { return Newf(Conflict, format, args...) }

// Down marks cause as a dependency failure that a retry may cure. what
// names the dependency for the caller ("the database"); cause stays for logs.
func Down(what string, cause error) *Error {
	return &Error{Code: Unavailable, Message: what + " is unavailable; retry shortly", Err: cause}
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// CodeOf returns the code of the first *Error in err's chain, Internal when
// there is none, and "" for a nil error.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if e, ok := As(err); ok {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code c.
func Is(err error, c Code) bool { return err != nil && CodeOf(err) == c }
