package ingest_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/ingest"
)

func TestDecodeEventsV2TriggerDocsExample(t *testing.T) {
	t.Parallel()
	ev, problems, err := ingest.DecodeEventsV2([]byte(pdTriggerDocs))
	require.NoError(t, err)
	require.Empty(t, problems)
	require.Equal(t, ingest.EventV2{
		RoutingKey: "samplekeyhere",
		Alert: incident.Alert{
			Source:      incident.SourceEventsV2,
			Action:      incident.AlertTrigger,
			DedupKey:    "samplekeyhere",
			Fingerprint: "samplekeyhere",
			Title:       "Example alert on host1.example.com",
			Severity:    incident.SeverityInfo,
			StartsAt:    time.Date(2015, 7, 17, 8, 42, 58, 315000000, time.UTC),
			Labels: map[string]string{
				"source":    "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003",
				"component": "postgres",
				"group":     "prod-datapipe",
				"class":     "deploy",
			},
			Details: map[string]any{
				"custom_details": map[string]any{"ping time": "1500ms", "load avg": 0.75},
				"links":          []any{map[string]any{"href": "https://example.com/", "text": "Link text"}},
				"images": []any{map[string]any{
					"src":  "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
					"href": "https://example.com/",
					"alt":  "Example text",
				}},
				"client":     "Sample Monitoring Service",
				"client_url": "https://monitoring.example.com",
			},
			URL: "https://example.com/",
		},
	}, ev)
}

func TestDecodeEventsV2TriggerAPIReferenceExample(t *testing.T) {
	t.Parallel()
	ev, problems, err := ingest.DecodeEventsV2([]byte(pdTriggerAPIRef))
	require.NoError(t, err)
	require.Empty(t, problems)
	require.Equal(t, "e93facc04764012d7bfb002500d5d1a6", ev.RoutingKey)
	require.Equal(t, "srv01/mysql", ev.DedupKey)
	require.Equal(t, "DISK at 99% on machine prod-datapipe03.example.com", ev.Title)
	require.Equal(t, incident.SeverityCritical, ev.Severity)
	require.Equal(t, "http://pagerduty.example.com", ev.URL)
}

func TestDecodeEventsV2FollowUps(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body   string
		action incident.AlertAction
	}{
		{pdAcknowledgeDocs, incident.AlertAcknowledge},
		{pdResolveDocs, incident.AlertResolve},
	}
	for _, c := range cases {
		t.Run(string(c.action), func(t *testing.T) {
			t.Parallel()
			ev, problems, err := ingest.DecodeEventsV2([]byte(c.body))
			require.NoError(t, err)
			require.Empty(t, problems)
			require.Equal(t, ingest.EventV2{
				RoutingKey: "routingkeyhere",
				Alert: incident.Alert{
					Source:      incident.SourceEventsV2,
					Action:      c.action,
					DedupKey:    "dedupkeyhere",
					Fingerprint: "dedupkeyhere",
					Severity:    ingest.DefaultSeverity,
				},
			}, ev)
		})
	}
}

func TestDecodeEventsV2TriggerWithoutDedupKey(t *testing.T) {
	t.Parallel()
	ev, problems, err := ingest.DecodeEventsV2([]byte(pdTriggerNoDedupKey))
	require.NoError(t, err)
	require.Empty(t, problems)
	require.Empty(t, ev.DedupKey, "the caller generates one and answers with it")
	require.Equal(t, incident.SeverityHigh, ev.Severity)
	require.Equal(t, map[string]string{"source": "backup-01"}, ev.Labels)
	require.Nil(t, ev.Details)
	require.Empty(t, ev.URL)
}

func TestDecodeEventsV2Severity(t *testing.T) {
	t.Parallel()
	cases := map[string]incident.Severity{
		"critical": incident.SeverityCritical,
		"error":    incident.SeverityHigh,
		"warning":  incident.SeverityMedium,
		"info":     incident.SeverityInfo,
	}
	for pd, want := range cases {
		t.Run(pd, func(t *testing.T) {
			t.Parallel()
			ev, problems, err := ingest.DecodeEventsV2([]byte(pdTrigger(`"severity":"` + pd + `"`)))
			require.NoError(t, err)
			require.Empty(t, problems)
			require.Equal(t, want, ev.Severity)
		})
	}
}

// pdTrigger is a valid trigger whose payload fields are replaced by extra,
// which may redefine summary, source or severity (the last key wins).
func pdTrigger(extra string) string {
	payload := `"summary":"s","source":"h","severity":"error"`
	if extra != "" {
		payload += "," + extra
	}
	return `{"routing_key":"rk","event_action":"trigger","dedup_key":"d","payload":{` + payload + `}}`
}

func TestDecodeEventsV2Details(t *testing.T) {
	t.Parallel()

	t.Run("long summary", func(t *testing.T) {
		t.Parallel()
		summary := strings.Repeat("w ", ingest.MaxSummaryLen/2)
		ev, problems, err := ingest.DecodeEventsV2([]byte(pdTrigger(`"summary":"` + summary + `"`)))
		require.NoError(t, err)
		require.Empty(t, problems)
		require.LessOrEqual(t, len([]rune(ev.Title)), incident.MaxTitleLen)
		require.True(t, strings.HasSuffix(ev.Title, "w…"))
		require.Equal(t, strings.TrimSpace(summary), ev.Description)
	})

	t.Run("custom_details of any shape", func(t *testing.T) {
		t.Parallel()
		ev, problems, err := ingest.DecodeEventsV2([]byte(pdTrigger(`"custom_details":"free text\u0000"`)))
		require.NoError(t, err)
		require.Empty(t, problems)
		require.Equal(t, map[string]any{"custom_details": "free text"}, ev.Details)
	})

	t.Run("links and images without their URL are dropped", func(t *testing.T) {
		t.Parallel()
		body := `{"routing_key":"rk","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"},` +
			`"links":[{"text":"no href"},{"href":" https://a.example "}],"images":[{"alt":"no src"}],"client_url":"https://c.example"}`
		ev, problems, err := ingest.DecodeEventsV2([]byte(body))
		require.NoError(t, err)
		require.Empty(t, problems)
		require.Equal(t, map[string]any{
			"links":      []any{map[string]any{"href": "https://a.example"}},
			"client_url": "https://c.example",
		}, ev.Details)
		require.Equal(t, "https://a.example", ev.URL)
	})

	t.Run("client_url when there is no link", func(t *testing.T) {
		t.Parallel()
		body := `{"routing_key":"rk","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"},"client_url":"https://c.example"}`
		ev, _, err := ingest.DecodeEventsV2([]byte(body))
		require.NoError(t, err)
		require.Equal(t, "https://c.example", ev.URL)
	})

	t.Run("resolve keeps a payload it was sent", func(t *testing.T) {
		t.Parallel()
		body := `{"routing_key":"rk","event_action":"resolve","dedup_key":" d ","payload":{"summary":"back to normal","severity":"bogus","timestamp":"never"}}`
		ev, problems, err := ingest.DecodeEventsV2([]byte(body))
		require.NoError(t, err)
		require.Empty(t, problems, "acknowledge and resolve do not validate the payload")
		require.Equal(t, "d", ev.DedupKey)
		require.Equal(t, "back to normal", ev.Title)
		require.Equal(t, ingest.DefaultSeverity, ev.Severity)
		require.True(t, ev.StartsAt.IsZero())
	})

	t.Run("RFC 3339 timestamp", func(t *testing.T) {
		t.Parallel()
		ev, problems, err := ingest.DecodeEventsV2([]byte(pdTrigger(`"timestamp":"2024-05-02T12:00:00+02:00"`)))
		require.NoError(t, err)
		require.Empty(t, problems)
		require.Equal(t, time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC), ev.StartsAt)
	})
}

func TestDecodeEventsV2Problems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		body     string
		problems []string
	}{
		{"empty object", `{}`, []string{
			"'routing_key' is missing or blank",
			"'event_action' is missing or blank",
		}},
		{"null", `null`, []string{
			"'routing_key' is missing or blank",
			"'event_action' is missing or blank",
		}},
		{"trigger without payload", `{"routing_key":"rk","event_action":"trigger"}`, []string{
			"'payload.summary' is missing or blank",
			"'payload.source' is missing or blank",
			"'payload.severity' is missing or blank",
		}},
		{"blank payload fields", `{"routing_key":"rk","event_action":"trigger","payload":{"summary":" \n","source":"  ","severity":""}}`, []string{
			"'payload.summary' is missing or blank",
			"'payload.source' is missing or blank",
			"'payload.severity' is missing or blank",
		}},
		{"blank routing key", `{"routing_key":"  ","event_action":"resolve","dedup_key":"d"}`, []string{
			"'routing_key' is missing or blank",
		}},
		{"unknown action", `{"routing_key":"rk","event_action":"snooze","dedup_key":"d"}`, []string{
			"'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')",
		}},
		{"action is case-sensitive", `{"routing_key":"rk","event_action":"Resolve","dedup_key":"d"}`, []string{
			"'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')",
		}},
		{"acknowledge without dedup key", `{"routing_key":"rk","event_action":"acknowledge"}`, []string{
			"'dedup_key' is missing or blank",
		}},
		{"resolve with blank dedup key", `{"routing_key":"rk","event_action":"resolve","dedup_key":"   "}`, []string{
			"'dedup_key' is missing or blank",
		}},
		{"dedup key too long", pdTriggerWithDedupKey(strings.Repeat("k", incident.MaxDedupKeyLen+1)), []string{
			"Length of 'dedup_key' is too long (must be at most 255 characters)",
		}},
		{"summary too long", pdTrigger(`"summary":"` + strings.Repeat("s", ingest.MaxSummaryLen+1) + `"`), []string{
			"Length of 'payload.summary' is too long (must be at most 1024 characters)",
		}},
		{"our severity names are not PagerDuty's", pdTrigger(`"severity":"high"`), []string{
			"'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')",
		}},
		{"severity is case-sensitive", pdTrigger(`"severity":"Critical"`), []string{
			"'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')",
		}},
		{"bad timestamp", pdTrigger(`"timestamp":"17/07/2015"`), []string{
			"'payload.timestamp' is invalid (must be an ISO 8601 timestamp)",
		}},
		{"summary not a string", pdTrigger(`"summary":42`), []string{
			"'payload.summary' is invalid (expected a string, got number)",
		}},
		{"payload not an object", `{"routing_key":"rk","event_action":"trigger","payload":"oops"}`, []string{
			"'payload' is invalid (expected an object, got string)",
		}},
		{"links not an array", `{"routing_key":"rk","event_action":"resolve","dedup_key":"d","links":{"href":"x"}}`, []string{
			"'links' is invalid (expected an array, got object)",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ev, problems, err := ingest.DecodeEventsV2([]byte(c.body))
			require.NoError(t, err)
			require.Equal(t, c.problems, problems)
			require.Zero(t, ev)
		})
	}
}

func pdTriggerWithDedupKey(key string) string {
	return `{"routing_key":"rk","event_action":"trigger","dedup_key":"` + key + `","payload":{"summary":"s","source":"h","severity":"info"}}`
}

func TestDecodeEventsV2Unrecognized(t *testing.T) {
	t.Parallel()
	for _, body := range []string{``, `{`, `not json`, `[]`, `"trigger"`, `42`, `{"routing_key":"rk"}{}`} {
		t.Run(body, func(t *testing.T) {
			t.Parallel()
			ev, problems, err := ingest.DecodeEventsV2([]byte(body))
			var ie *fault.Error
			require.True(t, errors.As(err, &ie), "got %v", err)
			require.Equal(t, "body", ie.Field)
			require.Nil(t, problems)
			require.Zero(t, ev)
		})
	}
}

func TestEventsV2Responses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		resp ingest.EventsV2Response
		want string
	}{
		{ingest.EventsV2Accepted("srv01/HTTP"), `{"status":"success","message":"Event processed","dedup_key":"srv01/HTTP"}`},
		{ingest.EventsV2Invalid([]string{"'payload.source' is missing or blank"}),
			`{"status":"invalid event","message":"Event object is invalid","errors":["'payload.source' is missing or blank"]}`},
		{ingest.EventsV2Unrecognized(),
			`{"status":"Unrecognized object","message":"Event object format is unrecognized","errors":["JSON parse error"]}`},
	}
	for _, c := range cases {
		got, err := json.Marshal(c.resp)
		require.NoError(t, err)
		require.JSONEq(t, c.want, string(got))
	}
}
