package store_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
)

var heartbeatIDShape = regexp.MustCompile(`^hb_[a-z2-7]{26}$`)

func TestHeartbeatMonitorLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	createIntegrationService(t, s, "backups")
	createIntegrationService(t, s, "billing")

	m, err := s.CreateHeartbeatMonitor(ctx, store.HeartbeatMonitor{
		ServiceID: " backups ", Name: "  nightly dump ", Interval: oncall.Duration(5*time.Minute + 1234567*time.Nanosecond),
		ID: "hb_ignored", LastPingAt: new(time.Now()),
	})
	require.NoError(t, err)
	require.Regexp(t, heartbeatIDShape, m.ID, "the store assigns the ID")
	require.Equal(t, "backups", m.ServiceID)
	require.Equal(t, "nightly dump", m.Name)
	require.Equal(t, 5*time.Minute+time.Millisecond, m.Interval.D(), "kept in whole milliseconds")
	require.Nil(t, m.LastPingAt, "no ping yet")
	require.False(t, m.CreatedAt.IsZero())
	require.Equal(t, time.UTC, m.CreatedAt.Location())

	other, err := s.CreateHeartbeatMonitor(ctx, store.HeartbeatMonitor{ServiceID: "billing", Name: "invoice run", Interval: oncall.Duration(24 * time.Hour)})
	require.NoError(t, err)
	another, err := s.CreateHeartbeatMonitor(ctx, store.HeartbeatMonitor{ServiceID: "backups", Name: "hourly sync", Interval: oncall.Duration(time.Hour)})
	require.NoError(t, err)

	got, err := s.GetHeartbeatMonitor(ctx, m.ID)
	require.NoError(t, err)
	require.Equal(t, m, got)

	list, err := s.ListHeartbeatMonitors(ctx)
	require.NoError(t, err)
	var ids []string
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	require.Equal(t, []string{another.ID, m.ID, other.ID}, ids, "by service, then name")

	at := time.Now().UTC().Truncate(time.Microsecond)
	require.NoError(t, s.RecordHeartbeatPing(ctx, m.ID, at))
	require.NoError(t, s.RecordHeartbeatPing(ctx, m.ID, at.Add(-time.Minute)), "a late write of an earlier ping")
	got, err = s.GetHeartbeatMonitor(ctx, m.ID)
	require.NoError(t, err)
	require.NotNil(t, got.LastPingAt)
	require.True(t, at.Equal(*got.LastPingAt), "never moves back: %v", got.LastPingAt)
	require.NoError(t, s.RecordHeartbeatPing(ctx, m.ID, at.Add(time.Minute)))
	got, err = s.GetHeartbeatMonitor(ctx, m.ID)
	require.NoError(t, err)
	require.True(t, at.Add(time.Minute).Equal(*got.LastPingAt))

	require.NoError(t, s.DeleteHeartbeatMonitor(ctx, m.ID))
	_, err = s.GetHeartbeatMonitor(ctx, m.ID)
	requireCode(t, fault.NotFound, err)
	requireCode(t, fault.NotFound, s.DeleteHeartbeatMonitor(ctx, m.ID))
	requireCode(t, fault.NotFound, s.RecordHeartbeatPing(ctx, m.ID, at))

	require.NoError(t, s.DeleteService(ctx, "billing"))
	_, err = s.GetHeartbeatMonitor(ctx, other.ID)
	requireCode(t, fault.NotFound, err, "a service's monitors go with it")
}

func TestHeartbeatMonitorValidation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	createIntegrationService(t, s, "backups")
	valid := store.HeartbeatMonitor{ServiceID: "backups", Name: "nightly dump", Interval: oncall.Duration(time.Minute)}

	for _, tc := range []struct {
		name  string
		edit  func(*store.HeartbeatMonitor)
		field string
	}{
		{"no service", func(m *store.HeartbeatMonitor) { m.ServiceID = " " }, "service_id"},
		{"unknown service", func(m *store.HeartbeatMonitor) { m.ServiceID = "nope" }, "service_id"},
		{"no name", func(m *store.HeartbeatMonitor) { m.Name = "  " }, "name"},
		{"long name", func(m *store.HeartbeatMonitor) { m.Name = strings.Repeat("x", oncall.MaxNameLen+1) }, "name"},
		{"zero interval", func(m *store.HeartbeatMonitor) { m.Interval = 0 }, "interval"},
		{"under a second", func(m *store.HeartbeatMonitor) { m.Interval = oncall.Duration(999 * time.Millisecond) }, "interval"},
		{"over a week", func(m *store.HeartbeatMonitor) {
			m.Interval = oncall.Duration(store.MaxHeartbeatInterval + time.Millisecond)
		}, "interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := valid
			tc.edit(&m)
			_, err := s.CreateHeartbeatMonitor(ctx, m)
			ve, ok := fault.As(err)
			require.True(t, ok && ve.Code == fault.Invalid, "want a validation error, got %v", err)
			require.Equal(t, tc.field, ve.Field)
		})
	}

	for _, d := range []time.Duration{store.MinHeartbeatInterval, store.MaxHeartbeatInterval} {
		m := valid
		m.Interval = oncall.Duration(d)
		_, err := s.CreateHeartbeatMonitor(ctx, m)
		require.NoError(t, err, "the bounds are allowed: %s", d)
	}
	list, err := s.ListHeartbeatMonitors(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2, "nothing invalid was stored")
}
