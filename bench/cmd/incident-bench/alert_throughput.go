package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"
)

// The alert-throughput scenario asks how many alerts per second the
// Alertmanager endpoint takes when a storm arrives as one group: every post
// carries -alerts-per-post alerts of the same group (the same fingerprints
// each time, as Alertmanager resends a group), so all of it folds into one
// incident and the cost measured is ingestion, not opening.

const scenarioAlert = "alert-throughput"

// maxAlertsPerPost keeps a post well under the endpoint's 4 MiB body limit.
const maxAlertsPerPost = 5000

type alertParams struct {
	commonFlags
	Concurrency   []int `json:"concurrency"`
	AlertsPerPost int   `json:"alerts_per_post"`
}

type alertSummary struct {
	Service string       `json:"service"`
	Group   string       `json:"group_key"`
	Levels  []levelStats `json:"levels"`
	// AlertsPerSecond per level is PerSecond × alerts per post.
	AlertsPerSecond []float64 `json:"alerts_per_second"`
	Cleanup         string    `json:"cleanup"`
}

// amPayload is the part of Alertmanager's webhook the engine reads.
type amPayload struct {
	Version     string            `json:"version"`
	GroupKey    string            `json:"groupKey"`
	Status      string            `json:"status"`
	Receiver    string            `json:"receiver"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []amAlertOut      `json:"alerts"`
}

type amAlertOut struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    string            `json:"startsAt"`
	Fingerprint string            `json:"fingerprint"`
}

func parseAlertFlags(args []string, stderr io.Writer) (alertParams, error) {
	fs := flag.NewFlagSet(scenarioAlert, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p alertParams
	p.register(fs, 10*time.Second)
	levels := &levelsFlag{levels: []int{1, 8}}
	fs.Var(levels, "concurrency", "comma-separated concurrency levels, run in turn")
	fs.IntVar(&p.AlertsPerPost, "alerts-per-post", 100, "alerts in each post, all of one group")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: incident-bench alert-throughput [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Creates a service and an integration key, posts Alertmanager webhooks of one group at each")
		fmt.Fprintln(stderr, "-concurrency level for -duration, then resolves the group.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	err := parseScenarioFlags(fs, args, func() error {
		if p.AlertsPerPost < 1 || p.AlertsPerPost > maxAlertsPerPost {
			return fmt.Errorf("-alerts-per-post must be from 1 to %d", maxAlertsPerPost)
		}
		return p.check()
	})
	p.Concurrency = levels.levels
	return p, err
}

func runAlertThroughput(args []string) error {
	_, err := runStandalone(args, parseAlertFlags, func(p alertParams) (time.Duration, string) { return p.timeout, p.Out }, alertThroughput)
	return err
}

// amGroup builds one post of the group: n alerts with fixed fingerprints.
func amGroup(group, status string, n int, startsAt time.Time) amPayload {
	msg := amPayload{Version: "4", GroupKey: group, Status: status, Receiver: "incident-bench",
		GroupLabels: map[string]string{"alertname": "BenchStorm"}}
	for i := range n {
		msg.Alerts = append(msg.Alerts, amAlertOut{
			Status:      status,
			Labels:      map[string]string{"alertname": "BenchStorm", "instance": fmt.Sprintf("host-%d", i), "severity": "info"},
			Annotations: map[string]string{"summary": "incident-bench alert storm"},
			StartsAt:    startsAt.Format(time.RFC3339),
			Fingerprint: fmt.Sprintf("bench%06d", i),
		})
	}
	return msg
}

func alertThroughput(ctx context.Context, p alertParams, out io.Writer) (result, []headline, error) {
	c, err := newClient(p.URL, maxConcurrency, p.token)
	if err != nil {
		return result{}, nil, err
	}
	defer c.close()
	ready, err := checkReady(ctx, c)
	if err != nil {
		return result{}, nil, err
	}
	sfx := randomSuffix()
	sum := alertSummary{Service: "bench-at-" + sfx, Group: "{}:{alertname=\"BenchStorm\",bench=\"" + sfx + "\"}"}
	// No escalation policy: the incident pages nobody, so paging is not
	// part of what is measured.
	if err := createService(ctx, c, service{ID: sum.Service, Name: "bench alert-throughput " + sfx}); err != nil {
		return result{}, nil, err
	}
	var key createdKey
	if _, err := c.do(ctx, "POST", "/api/v1/services/"+url.PathEscape(sum.Service)+"/integration-keys",
		keyRequest{Name: "incident-bench"}, &key); err != nil {
		return result{}, nil, fmt.Errorf("create integration key: %w", err)
	}
	if key.Key == "" {
		return result{}, nil, fmt.Errorf("create integration key: the answer has no key")
	}
	fmt.Fprintf(out, "%s: engine %s ready: %s; service %s, %d alerts per post, levels %v, %s each\n",
		scenarioAlert, c.base, ready, sum.Service, p.AlertsPerPost, p.Concurrency, p.duration)

	startsAt := time.Now().UTC()
	firing := amGroup(sum.Group, "firing", p.AlertsPerPost, startsAt)
	path := "/api/v1/integrations/alertmanager"
	post := func(ctx context.Context, _ int) (int, error) {
		return c.doAuth(ctx, "POST", path, key.Key, firing, nil)
	}
	started := time.Now().UTC()
	for _, conc := range p.Concurrency {
		if ctx.Err() != nil {
			break
		}
		ls := runLoad(ctx, conc, p.duration, maxOpsPerLevel, post)
		sum.Levels = append(sum.Levels, ls)
		sum.AlertsPerSecond = append(sum.AlertsPerSecond, ls.PerSecond*float64(p.AlertsPerPost))
		fmt.Fprintf(out, "  concurrency %d: %d posts (%.1f/s, %.0f alerts/s), %d errors\n",
			conc, ls.OK, ls.PerSecond, ls.PerSecond*float64(p.AlertsPerPost), ls.Errors)
	}
	ended := time.Now().UTC()

	sum.Cleanup = resolveGroup(c, sum.Service, key.Key, amGroup(sum.Group, "resolved", p.AlertsPerPost, startsAt))
	fmt.Fprintf(out, "  cleanup: %s\n", sum.Cleanup)

	var hs []headline
	for i, ls := range sum.Levels {
		h := levelHeadline(scenarioAlert, "post", ls)
		hs = append(hs, h)
		hs = append(hs, headline{Scenario: scenarioAlert, Kind: kindAlerts, Concurrency: ls.Concurrency,
			Measure:   fmt.Sprintf("alerts (%d per post), concurrency %d", p.AlertsPerPost, ls.Concurrency),
			Count:     ls.OK * p.AlertsPerPost,
			PerSecond: sum.AlertsPerSecond[i]})
	}
	return result{
		Scenario:   scenarioAlert,
		Parameters: p,
		Machine:    thisMachine(),
		Engine:     map[string]any{"ready_checks": ready.Checks},
		StartedAt:  started,
		EndedAt:    ended,
		Summary:    sum,
		Samples:    hs,
	}, hs, nil
}

// resolveGroup posts the group as resolved, which resolves its incident
// once every fingerprint has, then waits a bounded time for that and
// resolves through the API whatever is still open. It says how it went.
func resolveGroup(c *client, svc, key string, resolved amPayload) string {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	postErr := ""
	if _, err := c.doAuth(ctx, "POST", "/api/v1/integrations/alertmanager", key, resolved, nil); err != nil {
		postErr = "resolved post failed (" + err.Error() + "); "
	}
	var ids []string
	for range 20 { // up to about 10 s for the workflow to resolve itself
		var err error
		ids, err = activeIncidentIDs(ctx, c, svc)
		if err != nil {
			return postErr + "listing incidents failed: " + err.Error()
		}
		if len(ids) == 0 {
			return postErr + "the group's incident resolved itself"
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			break
		}
	}
	rep := resolveIDs(ctx, c, ids)
	return fmt.Sprintf("%s%d incidents still open after the resolved post; resolved %d through the API, failed %d",
		postErr, len(ids), rep.Resolved+rep.Already, rep.Failed)
}
