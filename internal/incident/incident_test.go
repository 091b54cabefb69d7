package incident_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
)

func TestTransitions(t *testing.T) {
	t.Parallel()
	const (
		open = incident.StatusOpen
		ack  = incident.StatusAcknowledged
		mit  = incident.StatusMitigated
		res  = incident.StatusResolved
	)
	cases := []struct {
		from, to incident.Status
		ok       bool
	}{
		{open, ack, true},
		{open, mit, true},
		{open, res, true},
		{open, open, false},
		{ack, mit, true},
		{ack, res, true},
		{ack, ack, false},
		{ack, open, false},
		{mit, res, true},
		{mit, ack, false},
		{mit, mit, false},
		{mit, open, false},
		{res, open, false},
		{res, ack, false},
		{res, mit, false},
		{res, res, false},
	}
	for _, c := range cases {
		t.Run(string(c.from)+"→"+string(c.to), func(t *testing.T) {
			t.Parallel()
			err := incident.CanTransition(c.from, c.to)
			if c.ok {
				require.NoError(t, err)
				return
			}
			require.Equal(t, fault.Conflict, fault.CodeOf(err), "a refused move is a conflict: %v", err)
			require.Contains(t, err.Error(), string(c.to))
		})
	}
}

func TestTransitionErrorMessages(t *testing.T) {
	t.Parallel()
	require.Equal(t, "incident is resolved; cannot move to acknowledged",
		incident.CanTransition(incident.StatusResolved, incident.StatusAcknowledged).Error())
	require.Equal(t, "incident is already mitigated",
		incident.CanTransition(incident.StatusMitigated, incident.StatusMitigated).Error())
	require.Equal(t, "cannot move from mitigated to acknowledged",
		incident.CanTransition(incident.StatusMitigated, incident.StatusAcknowledged).Error())
}

func TestActionTargets(t *testing.T) {
	t.Parallel()
	for action, want := range map[incident.Action]incident.Status{
		incident.ActionAcknowledge: incident.StatusAcknowledged,
		incident.ActionMitigate:    incident.StatusMitigated,
		incident.ActionResolve:     incident.StatusResolved,
	} {
		got, ok := action.Target()
		require.True(t, ok)
		require.Equal(t, want, got)
		require.Equal(t, string(action)+"d", string(incident.EventFor(got))[:len(action)+1], "event type follows the action")
	}
	_, ok := incident.Action("snooze").Target()
	require.False(t, ok)
}

func TestStatusActive(t *testing.T) {
	t.Parallel()
	require.True(t, incident.StatusOpen.Active())
	require.True(t, incident.StatusAcknowledged.Active())
	require.True(t, incident.StatusMitigated.Active())
	require.False(t, incident.StatusResolved.Active())
	require.False(t, incident.Status("closed").Active())
}

func TestNewIncidentValidation(t *testing.T) {
	t.Parallel()
	valid := func() incident.NewIncident {
		return incident.NewIncident{Title: "db down", Service: "payments-api", Severity: incident.SeverityHigh}
	}
	cases := []struct {
		name  string
		edit  func(*incident.NewIncident)
		field string
	}{
		{"valid", func(*incident.NewIncident) {}, ""},
		{"missing title", func(n *incident.NewIncident) { n.Title = "  " }, "title"},
		{"long title", func(n *incident.NewIncident) { n.Title = strings.Repeat("x", incident.MaxTitleLen+1) }, "title"},
		{"missing service", func(n *incident.NewIncident) { n.Service = "" }, "service"},
		{"service with spaces", func(n *incident.NewIncident) { n.Service = "pay ments" }, "service"},
		{"missing severity", func(n *incident.NewIncident) { n.Severity = "" }, "severity"},
		{"unknown severity", func(n *incident.NewIncident) { n.Severity = "sev1" }, "severity"},
		{"severity in capitals is accepted", func(n *incident.NewIncident) { n.Severity = " CRITICAL " }, ""},
		{"long description", func(n *incident.NewIncident) { n.Description = strings.Repeat("é", incident.MaxDescriptionLen+1) }, "description"},
		{"long dedup key", func(n *incident.NewIncident) { n.DedupKey = strings.Repeat("k", incident.MaxDedupKeyLen+1) }, "dedup_key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := valid()
			c.edit(&n)
			n.Normalize()
			err := n.Validate()
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			ve, ok := fault.As(err)
			require.True(t, ok, "got %v", err)
			require.Equal(t, fault.Invalid, ve.Code)
			require.Equal(t, c.field, ve.Field)
		})
	}
}

func TestValidateActor(t *testing.T) {
	t.Parallel()
	require.NoError(t, incident.ValidateActor("alice", ""))
	require.Error(t, incident.ValidateActor(" ", ""))
	require.Error(t, incident.ValidateActor(strings.Repeat("a", incident.MaxActorLen+1), ""))
	require.Error(t, incident.ValidateActor("alice", strings.Repeat("n", incident.MaxNoteLen+1)))
}

func TestMoveRecordsWhoAndWhenAndReopensAfterALapsedAcknowledgement(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	inc := incident.Incident{ID: "inc_1", Status: incident.StatusOpen, Version: 1, CreatedAt: t0, UpdatedAt: t0}

	inc.Move(incident.StatusAcknowledged, "alice", t0.Add(time.Minute))
	require.Equal(t, incident.StatusAcknowledged, inc.Status)
	require.Equal(t, int64(2), inc.Version)
	require.Equal(t, "alice", inc.AcknowledgedBy)
	require.Equal(t, t0.Add(time.Minute), *inc.AcknowledgedAt)

	// The engine reopens an incident whose acknowledgement lapsed.
	inc.Move(incident.StatusOpen, "", t0.Add(2*time.Minute))
	require.Equal(t, incident.StatusOpen, inc.Status)
	require.Nil(t, inc.AcknowledgedAt)
	require.Empty(t, inc.AcknowledgedBy)
	require.Equal(t, t0.Add(2*time.Minute), inc.UpdatedAt)

	inc.Move(incident.StatusMitigated, "bob", t0.Add(3*time.Minute))
	inc.Move(incident.StatusResolved, "bob", t0.Add(4*time.Minute))
	require.Equal(t, t0.Add(3*time.Minute), *inc.MitigatedAt)
	require.Equal(t, t0.Add(4*time.Minute), *inc.ResolvedAt)
	require.Equal(t, "bob", inc.ResolvedBy)
	require.Equal(t, int64(5), inc.Version)
}

func TestNewIDsSortByTimeAndDiffer(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	a, b := incident.NewID(t0), incident.NewID(t0)
	later := incident.NewID(t0.Add(time.Second))
	require.NotEqual(t, a, b)
	require.Regexp(t, `^inc_[0-9a-z]{26}$`, a)
	require.Less(t, a, later, "the time prefix orders IDs")
}

func TestValidateNote(t *testing.T) {
	t.Parallel()
	for _, note := range []string{"", "  \n"} {
		err := incident.ValidateNote(note)
		ve, ok := fault.As(err)
		require.True(t, ok)
		require.Equal(t, "note: is required", ve.Public())
	}
	require.NoError(t, incident.ValidateNote("rolled back"))
	require.Error(t, incident.ValidateNote(strings.Repeat("x", incident.MaxNoteLen+1)))
}

func TestOnlyAlertmanagerResolvesAlertByAlert(t *testing.T) {
	t.Parallel()
	require.False(t, incident.SourceAlertmanager.ResolvesIncident())
	for _, s := range []incident.AlertSource{incident.SourceEventsV2, incident.SourceGeneric, incident.SourceHeartbeat, incident.SourceEngine} {
		require.True(t, s.ResolvesIncident(), s)
	}
}
