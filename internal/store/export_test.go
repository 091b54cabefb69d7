package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/schedule"
	"github.com/incident-server/incident-server/internal/store"
)

// seedConfig fills s with one of everything an export holds.
func seedConfig(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := t.Context()
	u, err := s.CreateUser(ctx, ann())
	require.NoError(t, err)
	bob := createUser(t, s, "Bob", "bob@example.com")
	pol, err := s.CreatePolicy(ctx, policyFor("checkout primary", u.ID, bob.ID))
	require.NoError(t, err)
	_, err = s.CreateSLAPolicy(ctx, oncall.SLAPolicy{Severity: incident.SeverityCritical, Service: "checkout",
		Response: oncall.Duration(10 * time.Minute), Resolution: oncall.Duration(2 * time.Hour), WarningFraction: 0.5})
	require.NoError(t, err)
	sv := oncall.Service{ID: "checkout", Name: "Checkout", EscalationPolicyID: pol.ID,
		AckTimeout: oncall.Duration(30 * time.Minute), BreachUserIDs: []string{bob.ID}, RequireRunbookSteps: true}
	_, err = s.CreateService(ctx, sv)
	require.NoError(t, err)
	_, err = s.CreateRunbook(ctx, failover("checkout", incident.SeverityCritical))
	require.NoError(t, err)
	_, _, err = s.CreateIntegrationKey(ctx, "checkout", "alertmanager")
	require.NoError(t, err)
	now := time.Now().UTC()
	_, err = s.CreateMaintenanceWindow(ctx, oncall.MaintenanceWindow{ServiceID: "checkout",
		StartsAt: now.Add(time.Hour), EndsAt: now.Add(2 * time.Hour), Reason: "database upgrade"})
	require.NoError(t, err)
	sch, err := s.CreateSchedule(ctx, weekly(t, "checkout on call", []string{u.ID, bob.ID}, bob.ID))
	require.NoError(t, err)
	_, err = s.CreateOverride(ctx, override(sch.ID, bob.ID, now.Add(time.Hour), now.Add(3*time.Hour)))
	require.NoError(t, err)
	_, _, err = s.CreateCalendarFeed(ctx, store.CalendarFeed{ScheduleID: sch.ID})
	require.NoError(t, err)
	_, _, err = s.PutHandoffSubscription(ctx, oncall.HandoffSubscription{ScheduleID: sch.ID, UserID: bob.ID, MinutesBefore: 10})
	require.NoError(t, err)
	pol.Steps[1].Targets = append(pol.Steps[1].Targets, oncall.Target{Type: oncall.TargetSchedule, ID: sch.ID})
	_, err = s.UpdatePolicy(ctx, pol)
	require.NoError(t, err)
}

func exportJSON(t *testing.T, s *store.Store, kind string) []byte {
	t.Helper()
	doc, err := s.Export(t.Context(), kind)
	require.NoError(t, err)
	out, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	return out
}

func TestExportImportRoundTripIsLossless(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src, dst := newStore(t), newStore(t)
	seedConfig(t, src)

	config, policies := exportJSON(t, src, store.ExportConfig), exportJSON(t, src, store.ExportPolicies)
	var docs []store.Document
	for _, raw := range [][]byte{config, policies} {
		var d store.Document
		require.NoError(t, json.Unmarshal(raw, &d))
		docs = append(docs, d)
	}
	require.Len(t, docs[0].Tables["users"], 2)
	require.Len(t, docs[0].Tables["contact_methods"], 2)
	require.Len(t, docs[0].Tables["integration_keys"], 1)
	require.Len(t, docs[0].Tables["schedules"], 1)
	require.Len(t, docs[0].Tables["schedule_overrides"], 1)
	require.Len(t, docs[0].Tables["calendar_feeds"], 1)
	require.Len(t, docs[0].Tables["handoff_subscriptions"], 1)
	require.Len(t, docs[1].Tables["escalation_policies"], 1)
	require.Len(t, docs[1].Tables["runbooks"], 1)

	// Config first on the command line: Import still writes the policies
	// the services reference before the services.
	res, err := dst.Import(ctx, docs...)
	require.NoError(t, err)
	require.Equal(t, 1, res["services"])
	require.Equal(t, config, exportJSON(t, dst, store.ExportConfig))
	require.Equal(t, policies, exportJSON(t, dst, store.ExportPolicies))

	// Importing again changes nothing.
	_, err = dst.Import(ctx, docs...)
	require.NoError(t, err)
	require.Equal(t, config, exportJSON(t, dst, store.ExportConfig))

	// What was imported works: the service pages with the imported policy,
	// whose second step targets the imported schedule, which computes.
	snap, err := dst.EscalationFor(ctx, "checkout")
	require.NoError(t, err)
	require.Len(t, snap.Steps, 2)
	// … and its incidents start the imported runbook, under the service's resolve policy.
	rbs, requireSteps, err := dst.RunbooksFor(ctx, "checkout", incident.SeverityCritical)
	require.NoError(t, err)
	require.Len(t, rbs, 1)
	require.Len(t, rbs[0].Steps, 3)
	require.True(t, requireSteps)
	schedules, err := dst.ListSchedules(ctx)
	require.NoError(t, err)
	require.Len(t, schedules, 1)
	require.Equal(t, oncall.Target{Type: oncall.TargetSchedule, ID: schedules[0].ID}, snap.Steps[1].Targets[1])
	now := time.Now().UTC()
	sch, err := dst.ScheduleIn(ctx, schedules[0].ID, now, now.Add(24*time.Hour))
	require.NoError(t, err)
	require.Len(t, sch.Overrides, 1)
	shifts, err := schedule.Shifts(sch, now, now.Add(24*time.Hour))
	require.NoError(t, err)
	require.NotEmpty(t, shifts)
}

func TestImportIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src, dst := newStore(t), newStore(t)
	seedConfig(t, src)
	config, err := src.Export(ctx, store.ExportConfig)
	require.NoError(t, err)

	// Without the policies file the services' policy is missing: nothing
	// is written, not even the users that come first.
	_, err = dst.Import(ctx, config)
	require.ErrorContains(t, err, "services")
	users, err := dst.ListUsers(ctx)
	require.NoError(t, err)
	require.Empty(t, users)

	bad := store.Document{Format: store.ExportFormat, Kind: store.ExportPolicies,
		Tables: map[string][]json.RawMessage{"sla_policies": {json.RawMessage(`{"id":"x","colour":"red"}`)}}}
	_, err = dst.Import(ctx, bad)
	require.ErrorContains(t, err, `unknown column "colour"`)
	_, err = dst.Import(ctx, store.Document{Format: "something else"})
	require.ErrorContains(t, err, "format")
}

func TestPurgeResolvedKeepsRecentAndActiveIncidents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	old := time.Now().UTC().Add(-100 * 24 * time.Hour).Truncate(time.Millisecond)
	for _, id := range []string{"inc_old", "inc_recent", "inc_active"} {
		inc, ev := opened(id, old)
		_, err := s.ApplyTransition(ctx, inc, ev)
		require.NoError(t, err)
	}
	resolve := func(id string, at time.Time) {
		inc, err := s.GetIncident(ctx, id)
		require.NoError(t, err)
		inc.Status, inc.ResolvedAt, inc.UpdatedAt, inc.Version = incident.StatusResolved, &at, at, inc.Version+1
		_, err = s.ApplyTransition(ctx, inc, incident.Event{ID: "resolved", IncidentID: id, Type: incident.EventResolved, EventTime: at, Seq: 2})
		require.NoError(t, err)
	}
	resolve("inc_old", old.Add(time.Hour))
	resolve("inc_recent", time.Now().UTC())

	events, _, err := s.PurgeResolved(ctx, time.Now().Add(-90*24*time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 2, events) // opened + resolved of inc_old
	for id, want := range map[string]int{"inc_old": 0, "inc_recent": 2, "inc_active": 1} {
		tl, err := s.Timeline(ctx, id, 100)
		require.NoError(t, err)
		require.Len(t, tl, want, id)
	}
	_, err = s.GetIncident(ctx, "inc_old")
	require.NoError(t, err, "the incident row stays")

	n, err := s.Vacuum(ctx)
	require.NoError(t, err)
	require.Greater(t, n, 5)
}
