package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// This file holds the engine's API shapes as the benchmark reads them and
// the calls scenarios share: readiness, on-call fixtures, opening and
// resolving incidents. The shapes are declared here rather than imported
// from the engine's packages so that the benchmark sees exactly what any
// HTTP client sees, and keeps building against an engine of another version.

// readiness is the answer of GET /health/ready.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// String lists the checks as "name=state", sorted, for one printed line.
func (r readiness) String() string {
	names := make([]string, 0, len(r.Checks))
	for n := range r.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + r.Checks[n]
	}
	return strings.Join(parts, " ")
}

// checkReady asks /health/ready and turns every way it can fail into an
// error that says what to do: nothing listening, something that is not the
// engine, or an engine with a dependency down.
func checkReady(ctx context.Context, c *client) (readiness, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var r readiness
	_, err := c.do(ctx, "GET", "/health/ready", nil, &r)
	if err == nil {
		return r, nil
	}
	var ae *apiError
	switch {
	case unreachable(err):
		return r, fmt.Errorf("engine not reachable at %s (%v): start one with `make run GORUSH=local`, or pass -url", c.base, err)
	case errors.Is(err, context.DeadlineExceeded):
		return r, fmt.Errorf("engine at %s did not answer /health/ready within 10s: is it starting, or stuck?", c.base)
	case errors.As(err, &ae) && ae.Status == 503:
		// The 503 body names each dependency's state beside the error.
		var body notReady
		_ = json.Unmarshal(ae.Body, &body)
		r = readiness{Status: "unavailable", Checks: body.Checks}
		return r, fmt.Errorf("engine at %s is not ready (%s): %s", c.base, r, ae.Message)
	case errors.As(err, &ae) && ae.Status == 404:
		return r, fmt.Errorf("%s answered 404 for /health/ready: is -url an incident-server?", c.base)
	}
	return r, fmt.Errorf("engine at %s: %w", c.base, err)
}

// contactMethod, user, policy and service mirror the on-call resources.
type contactMethod struct {
	ID       string `json:"id,omitempty"`
	Type     string `json:"type"`
	Platform string `json:"platform,omitempty"`
	Token    string `json:"token,omitempty"`
}

type user struct {
	ID             string          `json:"id,omitempty"`
	Name           string          `json:"name"`
	Email          string          `json:"email"`
	ContactMethods []contactMethod `json:"contact_methods"`
}

type target struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type policyStep struct {
	Delay   string   `json:"delay"`
	Targets []target `json:"targets"`
}

type policy struct {
	ID     string       `json:"id,omitempty"`
	Name   string       `json:"name"`
	Repeat int          `json:"repeat"`
	Steps  []policyStep `json:"steps"`
}

type service struct {
	ID                 string `json:"id"`
	Name               string `json:"name,omitempty"`
	EscalationPolicyID string `json:"escalation_policy_id,omitempty"`
}

// createUser creates a user with one iOS push device.
func createUser(ctx context.Context, c *client, name, email, token string) (user, error) {
	in := user{Name: name, Email: email, ContactMethods: []contactMethod{{Type: "push", Platform: "ios", Token: token}}}
	var out user
	if _, err := c.do(ctx, "POST", "/api/v1/users", in, &out); err != nil {
		return out, fmt.Errorf("create user %s: %w", email, err)
	}
	if out.ID == "" {
		return out, fmt.Errorf("create user %s: the answer has no id", email)
	}
	return out, nil
}

func createPolicy(ctx context.Context, c *client, in policy) (policy, error) {
	var out policy
	if _, err := c.do(ctx, "POST", "/api/v1/escalation-policies", in, &out); err != nil {
		return out, fmt.Errorf("create escalation policy %q: %w", in.Name, err)
	}
	if out.ID == "" {
		return out, fmt.Errorf("create escalation policy %q: the answer has no id", in.Name)
	}
	return out, nil
}

func createService(ctx context.Context, c *client, in service) error {
	if _, err := c.do(ctx, "POST", "/api/v1/services", in, nil); err != nil {
		return fmt.Errorf("create service %q: %w", in.ID, err)
	}
	return nil
}

// newIncident is the body of POST /api/v1/incidents.
type newIncident struct {
	Title    string `json:"title"`
	Service  string `json:"service"`
	Severity string `json:"severity"`
}

// incident is an incident as opening it and listing incidents answer it,
// cut down to what scenarios read.
type incident struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// incidentView is an incident as GET /api/v1/incidents/{id} shows it: with
// its workflow's live state while it is active.
type incidentView struct {
	incident
	Live *liveState `json:"live,omitempty"`
}

// liveState is the workflow's own state, present while the incident is active.
type liveState struct {
	Escalation *escalation `json:"escalation,omitempty"`
	AsOf       time.Time   `json:"as_of"`
}

type escalation struct {
	Step  int    `json:"step"`
	Pages []page `json:"pages"`
}

// page is one user paged at one step. Step is 0-based; At is workflow time.
type page struct {
	Step      int       `json:"step"`
	Round     int       `json:"round"`
	No        int       `json:"no"`
	UserID    string    `json:"user_id"`
	At        time.Time `json:"at"`
	Delivered int       `json:"delivered"`
	Failed    int       `json:"failed"`
}

// notification is one delivery of the ledger. Step is 1-based here, unlike
// page.Step. ClaimedAt is when the delivery was claimed, just before the
// provider request.
type notification struct {
	Step            int       `json:"step"`
	Round           int       `json:"round"`
	Page            int       `json:"page"`
	UserID          string    `json:"user_id"`
	ContactMethodID string    `json:"contact_method_id,omitempty"`
	Channel         string    `json:"channel"`
	Status          string    `json:"status"`
	Detail          string    `json:"detail,omitempty"`
	Attempts        int       `json:"attempts"`
	ClaimedAt       time.Time `json:"claimed_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func getIncident(ctx context.Context, c *client, id string) (incidentView, error) {
	var out incidentView
	_, err := c.do(ctx, "GET", "/api/v1/incidents/"+url.PathEscape(id), nil, &out)
	return out, err
}

func listNotifications(ctx context.Context, c *client, id string) ([]notification, error) {
	var out notificationList
	_, err := c.do(ctx, "GET", "/api/v1/incidents/"+url.PathEscape(id)+"/notifications", nil, &out)
	return out.Notifications, err
}

// activeIncidentIDs lists every incident of svc that is not resolved,
// following the cursor to the end.
func activeIncidentIDs(ctx context.Context, c *client, svc string) ([]string, error) {
	var ids []string
	cursor := ""
	for {
		q := url.Values{"service": {svc}, "limit": {"200"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var out incidentList
		if _, err := c.do(ctx, "GET", "/api/v1/incidents?"+q.Encode(), nil, &out); err != nil {
			return ids, err
		}
		for _, in := range out.Incidents {
			if in.Status != "resolved" {
				ids = append(ids, in.ID)
			}
		}
		if out.NextCursor == "" || len(out.Incidents) == 0 {
			return ids, nil
		}
		cursor = out.NextCursor
	}
}

// resolveReport says how cleaning up went.
type resolveReport struct {
	Resolved int `json:"resolved"`
	Already  int `json:"already_resolved"`
	Failed   int `json:"failed"`
	// Unknown counts incidents found only by listing the service: opens
	// that answered an error yet went through.
	Unknown int      `json:"found_by_listing"`
	Errors  []string `json:"errors,omitempty"`
}

const (
	// cleanupSettle is how long cleanup keeps listing for incidents that
	// may still appear. An open that answered 503 (the workflow did not
	// answer within the engine's 10 s) or no answer at all may still be
	// recorded once the engine catches up.
	cleanupSettle = 30 * time.Second
	// cleanupRelist is the pause between listings while waiting for them.
	cleanupRelist = 3 * time.Second
)

// resolveAll resolves the given incidents and every other active incident
// of svc, a service that exists only for this run. Listing the service
// catches opens that answered an error but went through, which the run
// never learned the ID of. sent is the number of opens sent, so the most
// incidents there can be: until that many are found, cleanup lists again
// every few seconds, and gives up once none has appeared for cleanupSettle.
func resolveAll(ctx context.Context, c *client, svc string, known []string, sent int, actor string) resolveReport {
	var rep resolveReport
	seen := map[string]bool{}
	isKnown := map[string]bool{}
	for _, id := range known {
		isKnown[id] = true
	}
	var mu sync.Mutex
	sem := make(chan struct{}, 8) // a few at a time: cleanup must not look like load
	body := command{Actor: actor}
	resolve := func(ids []string) {
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				_, err := c.do(ctx, "POST", "/api/v1/incidents/"+url.PathEscape(id)+"/resolve", body, nil)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					rep.Resolved++
				case statusOf(err) == 409:
					// Resolved already (by someone else, or an earlier attempt).
					rep.Already++
				default:
					rep.Failed++
					if len(rep.Errors) < 10 {
						rep.Errors = append(rep.Errors, err.Error())
					}
				}
			}()
		}
		wg.Wait()
	}
	// take returns the IDs not handled yet and marks them handled.
	take := func(ids []string, fromList bool) []string {
		var out []string
		for _, id := range ids {
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			if fromList && !isKnown[id] {
				rep.Unknown++
			}
			out = append(out, id)
		}
		return out
	}

	resolve(take(known, false))
	lastNew := time.Now()
	for {
		listed, err := activeIncidentIDs(ctx, c, svc)
		if err != nil {
			rep.Errors = append(rep.Errors, "list incidents of "+svc+": "+err.Error())
			return rep
		}
		if ids := take(listed, true); len(ids) > 0 {
			lastNew = time.Now()
			resolve(ids)
		}
		if len(seen) >= sent || time.Since(lastNew) >= cleanupSettle {
			return rep
		}
		if !sleepCtx(ctx, cleanupRelist) {
			rep.Errors = append(rep.Errors, fmt.Sprintf("stopped waiting for late incidents of %s: %v", svc, ctx.Err()))
			return rep
		}
	}
}

// randomSuffix names this run's fixtures so that runs never collide with
// each other or with real configuration.
func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pushToken returns a random token shaped like an APNs device token (64 hex
// digits), so the push path handles it like a real one.
func pushToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
