package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/schedule"
	"github.com/incident-server/incident-server/internal/store"
)

// scheduleRoutes registers what hangs off a schedule besides its own CRUD
// (oncallRoutes): overrides, who is on call and the computed shifts,
// iCalendar feeds, and handoff subscriptions. Overrides, feeds of a user
// and subscriptions may be made by the user they are for (the token's
// subject), whatever their role; admins may make them for anyone.
func (s *Server) scheduleRoutes(v1 *gin.RouterGroup) {
	v1.POST("/schedules/:id/overrides", s.asResponder, s.createOverride)
	v1.GET("/schedules/:id/overrides", s.asViewer, s.listOverrides)
	v1.DELETE("/schedules/:id/overrides/:override_id", s.asResponder, s.deleteOverride)
	v1.GET("/schedules/:id/on-call", s.asViewer, s.onCall)
	v1.GET("/schedules/:id/shifts", s.asViewer, s.scheduleShifts)
	v1.GET("/users/:id/shifts", s.asViewer, s.userShifts)
	v1.POST("/schedules/:id/calendar-feed", s.asAdmin, s.createFeed(false))
	v1.DELETE("/schedules/:id/calendar-feed", s.asAdmin, s.deleteFeed(false))
	v1.POST("/users/:id/calendar-feed", s.asViewer, s.createFeed(true))
	v1.DELETE("/users/:id/calendar-feed", s.asViewer, s.deleteFeed(true))
	v1.GET("/calendars/:token", s.calendar)
	v1.PUT("/schedules/:id/handoff-subscriptions/:user_id", s.asViewer, s.putSubscription)
	v1.GET("/schedules/:id/handoff-subscriptions", s.asViewer, s.listSubscriptions)
	v1.DELETE("/schedules/:id/handoff-subscriptions/:user_id", s.asViewer, s.deleteSubscription)
}

// forUser refuses a caller who is not an admin and not userID: what makes
// overrides, feeds and subscriptions for others is an admin's. The
// caller's identity is a user token's or a console session's subject; an
// API key acts for no one.
func forUser(c *gin.Context, userID, what string) error {
	p := principal(c)
	if p.Role.Allows(auth.Admin) || p.ActsFor(userID) {
		return nil
	}
	return fault.New(fault.Forbidden, fmt.Sprintf("%s for another user needs the admin role; without it a user token may do it only for its own user (%s)", what, p.Actor()))
}

// replanTimeout bounds the best-effort replan after a change: the change is
// stored, and the handoff workflow plans afresh at its next wake anyway.
const replanTimeout = 3 * time.Second

// stopHandoffs cancels the handoff workflow of a schedule about to be
// deleted, if anyone subscribed to its notices (only then does it run).
// It never refuses the delete: a workflow the cancel missed finds the
// schedule gone at its next wake, and ends.
func (s *Server) stopHandoffs(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replanTimeout)
	defer cancel()
	subs, err := s.store.ListHandoffSubscriptions(ctx, id)
	if err != nil || len(subs) == 0 {
		return nil
	}
	if err := s.engine.StopHandoffs(ctx, id); err != nil {
		s.log.WarnContext(ctx, "stop handoff notices of a deleted schedule; the workflow ends at its next wake", "schedule_id", id, "error", err)
	}
	return nil
}

// replan tells the schedule's handoff workflow what changed, when anyone
// subscribed to its notices (a schedule nobody subscribed to needs no
// workflow). Failures are logged: the change is stored, and a workflow
// that missed the news plans afresh at its next wake.
func (s *Server) replan(ctx context.Context, id, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replanTimeout)
	defer cancel()
	subs, err := s.store.ListHandoffSubscriptions(ctx, id)
	if err != nil || len(subs) == 0 {
		return
	}
	if _, err := s.engine.ReplanHandoffs(ctx, id, reason); err != nil {
		s.log.WarnContext(ctx, "replan handoff notices; the workflow replans at its next wake", "schedule_id", id, "reason", reason, "error", err)
	}
}

// overrideRequest is the body of POST /schedules/{id}/overrides.
type overrideRequest struct {
	UserID   string    `json:"user_id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Replaces string    `json:"replaces"`
}

// createOverride stores an override: 201 with it, 409 naming the override
// it overlaps.
func (s *Server) createOverride(c *gin.Context) {
	var req overrideRequest
	if err := s.decode(c, &req); err != nil {
		s.abort(c, err)
		return
	}
	o := oncall.Override{ScheduleID: c.Param("id"), CreatedBy: principal(c).Actor(),
		Override: schedule.Override{UserID: req.UserID, Start: req.Start, End: req.End, Replaces: req.Replaces}}
	o.Normalize()
	if err := o.Validate(); err != nil {
		s.abort(c, err)
		return
	}
	if err := forUser(c, o.UserID, "an override"); err != nil {
		s.abort(c, err)
		return
	}
	out, err := s.store.CreateOverride(c.Request.Context(), o)
	if err != nil {
		s.abort(c, err)
		return
	}
	s.overridesChanged(c, out.ScheduleID, "override created")
	auditTarget(c, out.ID)
	auditAfter(c, out)
	c.Header("Location", "/api/v1/schedules/"+url.PathEscape(out.ScheduleID)+"/overrides/"+url.PathEscape(out.ID))
	c.JSON(http.StatusCreated, out)
}

// overridesChanged retires cached on-call answers and tells the handoff
// workflow after an override changed.
func (s *Server) overridesChanged(c *gin.Context, scheduleID, reason string) {
	s.directory.ForgetSchedules(c.Request.Context())
	s.replan(c.Request.Context(), scheduleID, reason)
}

// listOverrides answers the overrides that overlap [from, to): by default
// those not yet ended.
func (s *Server) listOverrides(c *gin.Context) {
	from, to, err := window(c, time.Now().UTC(), schedule.MaxWindow)
	if err != nil {
		s.abort(c, err)
		return
	}
	os, err := s.store.ListOverrides(c.Request.Context(), c.Param("id"), from, to)
	if err != nil {
		s.abort(c, err)
		return
	}
	if os == nil {
		os = []oncall.Override{}
	}
	c.JSON(http.StatusOK, gin.H{"schedule_id": c.Param("id"), "overrides": os})
}

// deleteOverride removes an override; a non-admin may remove only their own.
func (s *Server) deleteOverride(c *gin.Context) {
	ctx := c.Request.Context()
	o, err := s.store.GetOverride(ctx, c.Param("id"), c.Param("override_id"))
	if err != nil {
		s.abort(c, err)
		return
	}
	if err := forUser(c, o.UserID, "deleting an override"); err != nil {
		s.abort(c, err)
		return
	}
	auditBefore(c, o)
	if err := s.store.DeleteOverride(ctx, o.ScheduleID, o.ID); err != nil {
		s.abort(c, err)
		return
	}
	s.overridesChanged(c, o.ScheduleID, "override deleted")
	c.Status(http.StatusNoContent)
}

// window reads the query's from and to (RFC 3339). from defaults to
// defFrom, to to from plus span.
func window(c *gin.Context, defFrom time.Time, span time.Duration) (time.Time, time.Time, error) {
	from, err := instant(c, "from", defFrom)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	to, err := instant(c, "to", from.Add(span))
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	switch {
	case to.Before(from):
		return time.Time{}, time.Time{}, fault.InvalidField("to", "must not be before from")
	case to.Sub(from) > schedule.MaxWindow:
		return time.Time{}, time.Time{}, fault.InvalidField("to", fmt.Sprintf("must be at most %d days after from", schedule.MaxWindow/(24*time.Hour)))
	}
	return from, to, nil
}

// instant reads one RFC 3339 query parameter, def when absent.
func instant(c *gin.Context, name string, def time.Time) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	// An unescaped "+01:00" in a query string arrives as " 01:00".
	t, err := time.Parse(time.RFC3339, strings.ReplaceAll(v, " ", "+"))
	if err != nil {
		return time.Time{}, fault.InvalidField(name, "must be an RFC 3339 time like 2026-03-02T09:00:00Z")
	}
	return t.UTC(), nil
}

// shiftView is a shift as answers show it: with the user's name and its
// ends in the schedule's local time, beside UTC.
type shiftView struct {
	schedule.Shift
	UserName   string `json:"user_name,omitempty"`
	StartLocal string `json:"start_local,omitempty"`
	EndLocal   string `json:"end_local,omitempty"`
}

// views names the shifts' users and writes their ends in zone.
func (s *Server) views(ctx context.Context, shifts []schedule.Shift, zone map[string]*time.Location) ([]shiftView, error) {
	var ids []string
	for _, sh := range shifts {
		if !slices.Contains(ids, sh.UserID) {
			ids = append(ids, sh.UserID)
		}
	}
	users, err := s.store.GetUsers(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]shiftView, len(shifts))
	for i, sh := range shifts {
		v := shiftView{Shift: sh, UserName: users[sh.UserID].Name}
		if loc := zone[sh.ScheduleID]; loc != nil {
			v.StartLocal, v.EndLocal = sh.Start.In(loc).Format(time.RFC3339), sh.End.In(loc).Format(time.RFC3339)
		}
		out[i] = v
	}
	return out, nil
}

// onCall answers who is on call in a schedule at ?at (default now),
// through the directory's cache.
func (s *Server) onCall(c *gin.Context) {
	ctx := c.Request.Context()
	at, err := instant(c, "at", time.Now().UTC())
	if err != nil {
		s.abort(c, err)
		return
	}
	oc, err := s.directory.OnCall(ctx, c.Param("id"), at)
	if err != nil {
		s.abort(c, err)
		return
	}
	answer := gin.H{"schedule_id": oc.ScheduleID, "schedule_name": oc.ScheduleName, "time_zone": oc.TimeZone,
		"at": at, "on_call": nil}
	if oc.Shift != nil {
		loc, _ := time.LoadLocation(oc.TimeZone)
		vs, err := s.views(ctx, []schedule.Shift{*oc.Shift}, map[string]*time.Location{oc.ScheduleID: loc})
		if err != nil {
			s.abort(c, err)
			return
		}
		answer["on_call"] = vs[0]
	}
	c.JSON(http.StatusOK, answer)
}

// scheduleShifts answers a schedule's final shifts in [from, to), by
// default the coming week: layers stacked, overrides applied, each with
// its source.
func (s *Server) scheduleShifts(c *gin.Context) {
	ctx := c.Request.Context()
	from, to, err := window(c, time.Now().UTC(), 7*24*time.Hour)
	if err != nil {
		s.abort(c, err)
		return
	}
	sch, err := s.store.ScheduleIn(ctx, c.Param("id"), from, to)
	if err != nil {
		s.abort(c, err)
		return
	}
	cs, err := schedule.Compile(sch)
	if err != nil {
		s.abort(c, oncall.ScheduleError(err))
		return
	}
	shifts, err := cs.Shifts(from, to)
	if err != nil {
		s.abort(c, oncall.ScheduleError(err))
		return
	}
	loc, _ := time.LoadLocation(sch.TimeZone)
	vs, err := s.views(ctx, shifts, map[string]*time.Location{sch.ID: loc})
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"schedule_id": sch.ID, "schedule_name": sch.Name, "time_zone": sch.TimeZone,
		"from": from, "to": to, "shifts": vs})
}

// userShifts answers a user's shifts in [from, to) in every schedule that
// names them, soonest first.
func (s *Server) userShifts(c *gin.Context) {
	ctx := c.Request.Context()
	from, to, err := window(c, time.Now().UTC(), 7*24*time.Hour)
	if err != nil {
		s.abort(c, err)
		return
	}
	if _, err := s.store.GetUser(ctx, c.Param("id")); err != nil {
		s.abort(c, err)
		return
	}
	shifts, zones, err := s.shiftsOfUser(ctx, c.Param("id"), from, to)
	if err != nil {
		s.abort(c, err)
		return
	}
	vs, err := s.views(ctx, shifts, zones)
	if err != nil {
		s.abort(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user_id": c.Param("id"), "from": from, "to": to, "shifts": vs})
}

// shiftsOfUser computes a user's shifts in every schedule that names them,
// soonest first, and the zone of each schedule.
func (s *Server) shiftsOfUser(ctx context.Context, userID string, from, to time.Time) ([]schedule.Shift, map[string]*time.Location, error) {
	schs, err := s.store.SchedulesOfUser(ctx, userID, from, to)
	if err != nil {
		return nil, nil, err
	}
	all := []schedule.Shift{}
	zones := map[string]*time.Location{}
	for _, sch := range schs {
		shifts, err := schedule.UserShifts(sch, userID, from, to)
		if err != nil {
			return nil, nil, oncall.ScheduleError(err)
		}
		all = append(all, shifts...)
		zones[sch.ID], _ = time.LoadLocation(sch.TimeZone)
	}
	slices.SortStableFunc(all, func(a, b schedule.Shift) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ScheduleID, b.ScheduleID)
	})
	return all, zones, nil
}

// feedAnswer is what making a calendar feed answers: the feed, and once,
// its token and the URL to subscribe to.
type feedAnswer struct {
	store.CalendarFeed
	Token string `json:"token"`
	Path  string `json:"path"`
	URL   string `json:"url"`
}

// createFeed makes (or replaces: rotation) the iCalendar feed of a
// schedule (admins) or a user (the user, or admins). 201 with the token
// and the URL, shown this once.
func (s *Server) createFeed(ofUser bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		f := store.CalendarFeed{ScheduleID: c.Param("id"), CreatedBy: principal(c).Actor()}
		if ofUser {
			f = store.CalendarFeed{UserID: c.Param("id"), CreatedBy: principal(c).Actor()}
			if err := forUser(c, f.UserID, "a calendar feed"); err != nil {
				s.abort(c, err)
				return
			}
		}
		out, token, err := s.store.CreateCalendarFeed(c.Request.Context(), f)
		if err != nil {
			s.abort(c, err)
			return
		}
		auditTarget(c, out.ID)
		auditAfter(c, out)
		path := "/api/v1/calendars/" + token + ".ics"
		c.JSON(http.StatusCreated, feedAnswer{CalendarFeed: out, Token: token, Path: path, URL: baseURL(c) + path})
	}
}

// baseURL is the scheme and host the request came to, as a client sees
// them (X-Forwarded-Proto behind a proxy that terminates TLS).
func baseURL(c *gin.Context) string {
	scheme := "http"
	if c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// deleteFeed revokes a schedule's or a user's feed.
func (s *Server) deleteFeed(ofUser bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		scheduleID, userID := c.Param("id"), ""
		if ofUser {
			scheduleID, userID = "", c.Param("id")
			if err := forUser(c, userID, "a calendar feed"); err != nil {
				s.abort(c, err)
				return
			}
		}
		auditTarget(c, c.Param("id"))
		if err := s.store.DeleteCalendarFeed(c.Request.Context(), scheduleID, userID); err != nil {
			s.abort(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// Calendar feeds show the shifts from a week ago to feedAhead from the
// start of today (UTC), cut at midnight so that re-fetching the same day
// gives the same events.
const (
	feedBehind = 7 * 24 * time.Hour
	feedAhead  = 90 * 24 * time.Hour
)

// calendar serves an iCalendar feed (RFC 5545, text/calendar). The token
// in the URL is the credential, as calendar clients send no other: one
// that opens no feed is 404. Counted against the rate limit of the feed.
func (s *Server) calendar(c *gin.Context) {
	ctx := c.Request.Context()
	f, err := s.store.AuthenticateCalendarFeed(ctx, strings.TrimSuffix(c.Param("token"), ".ics"))
	if err != nil {
		s.abort(c, err)
		return
	}
	if !s.allow(c, "rest", "calendar:"+f.ID, s.rateLimit) {
		return
	}
	now := time.Now().UTC()
	from := now.Truncate(24 * time.Hour).Add(-feedBehind)
	to := from.Add(feedBehind + feedAhead)
	var title string
	var groups []shiftGroup
	if f.ScheduleID != "" {
		sch, err := s.store.ScheduleIn(ctx, f.ScheduleID, from, to)
		if err != nil {
			s.abort(c, err)
			return
		}
		shifts, err := schedule.Shifts(sch, from, to)
		if err != nil {
			s.abort(c, oncall.ScheduleError(err))
			return
		}
		title, groups = "On call: "+sch.Name, []shiftGroup{{sch.Name, shifts}}
	} else {
		u, err := s.store.GetUser(ctx, f.UserID)
		if err != nil {
			s.abort(c, err)
			return
		}
		schs, err := s.store.SchedulesOfUser(ctx, f.UserID, from, to)
		if err != nil {
			s.abort(c, err)
			return
		}
		for _, sch := range schs {
			shifts, err := schedule.UserShifts(sch, f.UserID, from, to)
			if err != nil {
				s.abort(c, oncall.ScheduleError(err))
				return
			}
			groups = append(groups, shiftGroup{sch.Name, shifts})
		}
		title = "On call: " + u.Name
	}
	var ids []string
	for _, g := range groups {
		for _, sh := range g.shifts {
			if !slices.Contains(ids, sh.UserID) {
				ids = append(ids, sh.UserID)
			}
		}
	}
	users, err := s.store.GetUsers(ctx, ids)
	if err != nil {
		s.abort(c, err)
		return
	}
	names := make(map[string]string, len(users))
	for id, u := range users {
		names[id] = u.Name
	}
	c.Header("Content-Disposition", `inline; filename="oncall.ics"`)
	c.Data(http.StatusOK, "text/calendar; charset=utf-8", icalOf(title, groups, names, now.Truncate(time.Second)))
}

// shiftGroup is the shifts of one schedule, named.
type shiftGroup struct {
	schedule string
	shifts   []schedule.Shift
}

// calendarDomain is the domain of the feeds' event UIDs: fixed, so that a
// feed served under another host name keeps its events.
const calendarDomain = "incident-server"

// icalOf renders one calendar titled title with the events of every group,
// each event described with its own schedule's name: schedule.ICal renders
// one schedule's calendar, and the events of each are gathered under one
// header.
func icalOf(title string, groups []shiftGroup, names map[string]string, stamp time.Time) []byte {
	const begin, end, last = "BEGIN:VEVENT\r\n", "END:VEVENT\r\n", "END:VCALENDAR\r\n"
	out := bytes.TrimSuffix(schedule.ICal(title, nil, nil, calendarDomain, stamp), []byte(last))
	for _, g := range groups {
		cal := schedule.ICal(g.schedule, g.shifts, names, calendarDomain, stamp)
		if i, j := bytes.Index(cal, []byte(begin)), bytes.LastIndex(cal, []byte(end)); i >= 0 && j >= i {
			out = append(out, cal[i:j+len(end)]...)
		}
	}
	return append(out, last...)
}

// subscriptionRequest is the body of PUT …/handoff-subscriptions/{user_id}.
type subscriptionRequest struct {
	MinutesBefore int `json:"minutes_before"`
}

// putSubscription creates or changes a user's handoff notices of a
// schedule, then has the schedule's handoff workflow plan with it
// (starting the workflow if need be): 201 when new, 200 when changed. If
// the workflow cannot be reached the answer is 503 and the PUT may simply
// be sent again.
func (s *Server) putSubscription(c *gin.Context) {
	var req subscriptionRequest
	if err := s.decode(c, &req); err != nil {
		s.abort(c, err)
		return
	}
	sub := oncall.HandoffSubscription{ScheduleID: c.Param("id"), UserID: c.Param("user_id"), MinutesBefore: req.MinutesBefore}
	if err := sub.Validate(); err != nil {
		s.abort(c, err)
		return
	}
	if err := forUser(c, sub.UserID, "a handoff subscription"); err != nil {
		s.abort(c, err)
		return
	}
	ctx := c.Request.Context()
	if cur, err := s.store.GetHandoffSubscription(ctx, sub.ScheduleID, sub.UserID); err == nil {
		auditBefore(c, cur)
	}
	out, created, err := s.store.PutHandoffSubscription(ctx, sub)
	if err != nil {
		s.abort(c, err)
		return
	}
	auditTarget(c, out.ScheduleID+"/"+out.UserID)
	auditAfter(c, out)
	if _, err := s.engine.ReplanHandoffs(ctx, out.ScheduleID, "handoff subscription of "+out.UserID); err != nil {
		s.abort(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, out)
}

func (s *Server) listSubscriptions(c *gin.Context) {
	ctx := c.Request.Context()
	if _, err := s.store.GetSchedule(ctx, c.Param("id")); err != nil {
		s.abort(c, err)
		return
	}
	subs, err := s.store.ListHandoffSubscriptions(ctx, c.Param("id"))
	if err != nil {
		s.abort(c, err)
		return
	}
	if subs == nil {
		subs = []oncall.HandoffSubscription{}
	}
	c.JSON(http.StatusOK, gin.H{"schedule_id": c.Param("id"), "handoff_subscriptions": subs})
}

// deleteSubscription stops a user's handoff notices of a schedule.
func (s *Server) deleteSubscription(c *gin.Context) {
	ctx := c.Request.Context()
	scheduleID, userID := c.Param("id"), c.Param("user_id")
	if err := forUser(c, userID, "a handoff subscription"); err != nil {
		s.abort(c, err)
		return
	}
	cur, err := s.store.GetHandoffSubscription(ctx, scheduleID, userID)
	if err != nil {
		s.abort(c, err)
		return
	}
	auditTarget(c, scheduleID+"/"+userID)
	auditBefore(c, cur)
	if err := s.store.DeleteHandoffSubscription(ctx, scheduleID, userID); err != nil {
		s.abort(c, err)
		return
	}
	s.replan(ctx, scheduleID, "handoff subscription of "+userID+" deleted")
	c.Status(http.StatusNoContent)
}
