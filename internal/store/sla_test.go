package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

func TestSLAForPrefersServiceThenDefaultThenBuiltin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	got, err := s.SLAFor(ctx, "checkout", incident.SeverityCritical)
	require.NoError(t, err)
	require.Equal(t, oncall.BuiltinSLA(incident.SeverityCritical), got)
	require.Equal(t, 5*time.Minute, got.Response.D())

	def, err := s.CreateSLAPolicy(ctx, oncall.SLAPolicy{Severity: incident.SeverityCritical,
		Response: oncall.Duration(10 * time.Minute), Resolution: oncall.Duration(2 * time.Hour), WarningFraction: 0.5})
	require.NoError(t, err)
	got, err = s.SLAFor(ctx, "checkout", incident.SeverityCritical)
	require.NoError(t, err)
	require.Equal(t, "default", got.Source)
	require.Equal(t, 10*time.Minute, got.Response.D())
	require.Equal(t, 0.5, got.WarningFraction)

	_, err = s.CreateSLAPolicy(ctx, oncall.SLAPolicy{Severity: incident.SeverityCritical, Service: "checkout",
		Response: oncall.Duration(time.Minute), Resolution: oncall.Duration(time.Hour), WarningFraction: 0.75})
	require.NoError(t, err)
	got, err = s.SLAFor(ctx, "checkout", incident.SeverityCritical)
	require.NoError(t, err)
	require.Equal(t, "service", got.Source)
	require.Equal(t, time.Minute, got.Response.D())
	other, err := s.SLAFor(ctx, "search", incident.SeverityCritical)
	require.NoError(t, err)
	require.Equal(t, "default", other.Source, "another service keeps the default")

	_, err = s.CreateSLAPolicy(ctx, oncall.SLAPolicy{Severity: incident.SeverityCritical,
		Response: oncall.Duration(time.Minute), Resolution: oncall.Duration(time.Hour), WarningFraction: 0.75})
	requireCode(t, fault.Conflict, err, "one default per severity")

	def.Response = oncall.Duration(20 * time.Minute)
	upd, err := s.UpdateSLAPolicy(ctx, def)
	require.NoError(t, err)
	require.Equal(t, 20*time.Minute, upd.Response.D())
	list, err := s.ListSLAPolicies(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.NoError(t, s.DeleteSLAPolicy(ctx, def.ID))
	requireCode(t, fault.NotFound, s.DeleteSLAPolicy(ctx, def.ID))
}

func TestWritesReportWhetherTheyInserted(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	inc, ev := opened("inc-ins", t0)
	due := t0.Add(5 * time.Minute)
	inc.ResponseDueAt = &due
	first, err := s.ApplyTransition(ctx, inc, ev)
	require.NoError(t, err)
	require.True(t, first)
	again, err := s.ApplyTransition(ctx, inc, ev)
	require.NoError(t, err)
	require.False(t, again, "a retried write is not counted twice")
	note := incident.Event{ID: "n1", IncidentID: inc.ID, Type: "note", EventTime: t0}
	first, err = s.AppendEvent(ctx, note)
	require.NoError(t, err)
	require.True(t, first)
	again, err = s.AppendEvent(ctx, note)
	require.NoError(t, err)
	require.False(t, again)

	got, err := s.GetIncident(ctx, inc.ID)
	require.NoError(t, err)
	require.Equal(t, due, *got.ResponseDueAt)
	n, err := s.ResponseOverdueCount(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "open and past its response deadline")
}
