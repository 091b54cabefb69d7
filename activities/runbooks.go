package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/runbook"
	"github.com/incident-server/incident-server/internal/secret"
)

// ActionOptions configure RunAction: the outbound policy's client, the
// signing secret and the secrets header templates may name.
type ActionOptions struct {
	// Client makes the calls: it refuses internal addresses unless the
	// outbound policy allows them, and follows no redirect. Required by
	// RunAction.
	Client *outbound.Client
	// SigningSecret, when set, signs every call's body with
	// outbound.SignatureHeader. Default none: unsigned.
	SigningSecret []byte
	// Secrets are runbooks.secrets: what {{secret "name"}} in a header
	// value stands for. Default none.
	Secrets map[string]string
}

// maxActionExcerpt bounds the start of an answer's body kept in the run's
// record and the timeline.
const maxActionExcerpt = 512

// LoadRunbookContext reads what an action's templates know of an incident:
// its fields and its alerts' labels and annotations. Read-only.
func (a *Activities) LoadRunbookContext(ctx context.Context, incidentID string) (runbook.Context, error) {
	c, err := a.Store.RunbookContext(ctx, incidentID)
	if err != nil {
		return runbook.Context{}, toTemporal(err)
	}
	return c, nil
}

// RunAction makes one attempt of an action step's HTTP call and returns
// the answer's status and the start of its body.
//
// Idempotency: every attempt of one step of one run carries the same
// Idempotency-Key (contract.RunbookActionKey) and the same body, rendered
// from the context the step read when it started, so a receiver can tell a
// retry from a new call. With a signing secret the body is signed at the
// moment of sending (outbound.SignatureHeader).
//
// Failures are application errors of type contract.ActionFailed whose
// details hold the attempt's ActionResult: retryable for a 5xx, 408 or 429
// answer, a timeout or a connection error; final for any other answer, a
// destination the outbound policy refuses, and a request that cannot be
// built (a template naming a secret the configuration lacks).
func (a *Activities) RunAction(ctx context.Context, in contract.ActionInput) (contract.ActionResult, error) {
	res := contract.ActionResult{Attempt: int(activity.GetInfo(ctx).Attempt)}
	act := in.Action()
	key := contract.RunbookActionKey(in.IncidentID, in.Run, in.Step)
	req, err := act.Render(runbook.NewData(in.Context, in.Runbook, in.Run, in.Step, key), a.actionSecret)
	if err != nil {
		res.Excerpt = "cannot build the request: " + err.Error()
		return res, actionFailure(res, true)
	}
	if a.Actions.Client == nil {
		return res, toTemporal(fault.New(fault.Internal, "runbook actions are not configured on this worker"))
	}
	actx, cancel := context.WithTimeout(ctx, act.AttemptTimeout())
	defer cancel()
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(actx, req.Method, req.URL, body)
	if err != nil {
		res.Excerpt = "cannot build the request: " + err.Error()
		return res, actionFailure(res, true)
	}
	for name, vs := range req.Header {
		hreq.Header[name] = vs
	}
	hreq.Header.Set("Idempotency-Key", key)
	if len(a.Actions.SigningSecret) > 0 {
		hreq.Header.Set(outbound.SignatureHeader, outbound.Sign(a.Actions.SigningSecret, time.Now(), req.Body))
	}
	resp, err := a.Actions.Client.Do(hreq)
	if err != nil {
		res.Excerpt = redactedError(err, req.URL)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(actx.Err(), context.DeadlineExceeded) {
			res.Excerpt = fmt.Sprintf("no answer within %s", act.AttemptTimeout())
		}
		return res, actionFailure(res, outbound.IsRefused(err))
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxActionExcerpt))
	// Read the rest (bounded by the client), so the connection can be reused.
	_, _ = io.Copy(io.Discard, resp.Body)
	res.Status = resp.StatusCode
	res.Excerpt = strings.ToValidUTF8(string(excerpt), "")
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return res, nil
	}
	retryable := resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests
	return res, actionFailure(res, !retryable)
}

// actionSecret looks up a secret header templates name.
func (a *Activities) actionSecret(name string) (string, bool) {
	v, ok := a.Actions.Secrets[name]
	return v, ok
}

// actionFailure is the error of an attempt that got res: final or not.
func actionFailure(res contract.ActionResult, final bool) error {
	msg := res.Excerpt
	if res.Status != 0 {
		msg = fmt.Sprintf("answered %d: %s", res.Status, res.Excerpt)
	}
	return temporal.NewApplicationErrorWithOptions(msg, contract.ActionFailed,
		temporal.ApplicationErrorOptions{NonRetryable: final, Details: []any{res}})
}

// redactedError is a transport error with the URL reduced to its scheme
// and host: action URLs may carry a credential in their path.
func redactedError(err error, rawURL string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + secret.Redact(rawURL) + ": " + ue.Err.Error()
	}
	return err.Error()
}
