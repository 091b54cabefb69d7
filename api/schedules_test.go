package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/testenv"
)

// as sends a request with the token given ("" for none) and decodes a
// JSON answer.
func (a *oncallAPI) as(token, method, path, body string) answer {
	a.t.Helper()
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	return a.request(method, path, body, "Authorization", auth)
}

// raw GETs path with no credential and returns the status, the headers
// and the body.
func (a *oncallAPI) raw(path string) (int, http.Header, string) {
	a.t.Helper()
	req := httptest.NewRequestWithContext(a.t.Context(), http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	body, err := io.ReadAll(rec.Body)
	require.NoError(a.t, err)
	return rec.Code, rec.Header(), string(body)
}

// platformSchedule is a weekly rotation of ann and bob handing off on
// Mondays at 09:00 Berlin time, and a weekend layer of cem from Friday
// 18:00 to Monday 09:00.
func platformSchedule(ann, bob, cem string) string {
	return `{"name":"platform","time_zone":"Europe/Berlin","layers":[
		{"name":"weekdays","members":["` + ann + `","` + bob + `"],"start":"2026-03-02T09:00","turn":"weekly"},
		{"name":"weekend","members":["` + cem + `"],"start":"2026-03-06T18:00","turn":"weekly",
		 "restrictions":[{"start_day":"fri","start":"18:00","end_day":"mon","end":"09:00"}]}]}`
}

func shiftsOf(t *testing.T, ans answer) []map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, ans.status, ans.body)
	var out []map[string]any
	for _, s := range ans.body["shifts"].([]any) {
		out = append(out, s.(map[string]any))
	}
	return out
}

func TestScheduleLifecycleAndShifts(t *testing.T) {
	t.Parallel()
	a := newOncallAPI(t)
	ann := a.create("/users", `{"name":"Ann","email":"ann@example.com"}`)
	bob := a.create("/users", `{"name":"Bob","email":"bob@example.com"}`)
	cem := a.create("/users", `{"name":"Cem","email":"cem@example.com"}`)

	id := a.create("/schedules", platformSchedule(ann, bob, cem))
	got := a.do(http.MethodGet, "/schedules/"+id, "")
	require.Equal(t, http.StatusOK, got.status)
	require.EqualValues(t, 1, got.body["version"])
	require.Equal(t, "2026-03-06T18:00", got.body["layers"].([]any)[1].(map[string]any)["start"])
	require.Len(t, a.do(http.MethodGet, "/schedules", "").body["schedules"], 1)

	// The first week: ann on weekdays, cem over the weekend, then bob.
	shifts := shiftsOf(t, a.do(http.MethodGet, "/schedules/"+id+"/shifts?from=2026-03-02T08:00:00Z&to=2026-03-10T08:00:00Z", ""))
	require.Len(t, shifts, 3)
	require.Equal(t, ann, shifts[0]["user_id"])
	require.Equal(t, "Ann", shifts[0]["user_name"])
	require.Equal(t, "2026-03-02T08:00:00Z", shifts[0]["start"])
	require.Equal(t, "2026-03-06T17:00:00Z", shifts[0]["end"])
	require.Equal(t, "2026-03-02T09:00:00+01:00", shifts[0]["start_local"])
	require.Equal(t, map[string]any{"kind": "layer", "layer": float64(1), "layer_name": "weekdays"}, shifts[0]["source"])
	require.Equal(t, cem, shifts[1]["user_id"])
	require.Equal(t, "2026-03-09T08:00:00Z", shifts[1]["end"])
	require.EqualValues(t, 2, shifts[1]["source"].(map[string]any)["layer"])
	require.Equal(t, bob, shifts[2]["user_id"])

	oc := a.do(http.MethodGet, "/schedules/"+id+"/on-call?at=2026-03-07T13:00:00+01:00", "")
	require.Equal(t, http.StatusOK, oc.status, oc.body)
	require.Equal(t, cem, oc.body["on_call"].(map[string]any)["user_id"])
	require.Equal(t, "Cem", oc.body["on_call"].(map[string]any)["user_name"])
	oc = a.do(http.MethodGet, "/schedules/"+id+"/on-call?at=2026-03-01T12:00:00Z", "")
	require.Equal(t, http.StatusOK, oc.status)
	require.Nil(t, oc.body["on_call"], "before the rotations start nobody is on call")

	// An override cuts a shift in three; the shifts name it.
	ovr := a.do(http.MethodPost, "/schedules/"+id+"/overrides",
		`{"user_id":"`+cem+`","start":"2026-03-03T10:00:00Z","end":"2026-03-03T14:00:00Z"}`)
	require.Equal(t, http.StatusCreated, ovr.status, ovr.body)
	shifts = shiftsOf(t, a.do(http.MethodGet, "/schedules/"+id+"/shifts?from=2026-03-03T00:00:00Z&to=2026-03-04T00:00:00Z", ""))
	require.Len(t, shifts, 3)
	require.Equal(t, map[string]any{"kind": "override", "override_id": ovr.body["id"]}, shifts[1]["source"])
	clash := a.do(http.MethodPost, "/schedules/"+id+"/overrides",
		`{"user_id":"`+bob+`","start":"2026-03-03T13:00:00Z","end":"2026-03-03T15:00:00Z"}`)
	require.Equal(t, http.StatusConflict, clash.status)
	require.Contains(t, clash.errorMessage(), "overlaps override "+ovr.body["id"].(string))
	list := a.do(http.MethodGet, "/schedules/"+id+"/overrides?from=2026-03-01T00:00:00Z", "")
	require.Equal(t, http.StatusOK, list.status)
	require.Len(t, list.body["overrides"], 1)

	user := a.do(http.MethodGet, "/users/"+cem+"/shifts?from=2026-03-02T00:00:00Z&to=2026-03-10T00:00:00Z", "")
	cemShifts := shiftsOf(t, user)
	require.Len(t, cemShifts, 2, "the override and the weekend")
	require.Equal(t, id, cemShifts[0]["schedule_id"])

	for path, field := range map[string]string{
		"/schedules/" + id + "/shifts?from=yesterday":                                    "from",
		"/schedules/" + id + "/shifts?from=2026-03-02T00:00:00Z&to=2028-03-02T00:00:00Z": "to",
		"/schedules/" + id + "/on-call?at=now":                                           "at",
	} {
		bad := a.do(http.MethodGet, path, "")
		require.Equal(t, http.StatusBadRequest, bad.status, path)
		require.Contains(t, bad.errorMessage(), field+":")
	}
	require.Equal(t, http.StatusNotFound, a.do(http.MethodGet, "/schedules/sch_nobody/shifts", "").status)

	// Edited and sent back as read; the version moves on.
	got = a.do(http.MethodGet, "/schedules/"+id, "")
	got.body["name"] = "platform v2"
	edited, err := json.Marshal(got.body)
	require.NoError(t, err)
	put := a.do(http.MethodPut, "/schedules/"+id, string(edited))
	require.Equal(t, http.StatusOK, put.status, put.body)
	require.EqualValues(t, 2, put.body["version"])

	bad := a.do(http.MethodPost, "/schedules", `{"name":"x","time_zone":"Europe/Berlin","layers":[{"members":["`+ann+`"],"start":"2026-03-02T09:00","turn":"fortnightly"}]}`)
	require.Equal(t, http.StatusBadRequest, bad.status)
	require.Contains(t, bad.errorMessage(), "layers[0].turn: must be hourly, daily, weekly")

	// A schedule a policy pages cannot be deleted.
	pol := a.create("/escalation-policies", `{"name":"platform","steps":[{"targets":[{"type":"schedule","id":"`+id+`"}]}]}`)
	del := a.do(http.MethodDelete, "/schedules/"+id, "")
	require.Equal(t, http.StatusConflict, del.status)
	require.Equal(t, "schedule is a target of policy "+pol, del.errorMessage())
	require.Equal(t, http.StatusNoContent, a.do(http.MethodDelete, "/escalation-policies/"+pol, "").status)
	require.Equal(t, http.StatusNoContent, a.do(http.MethodDelete, "/schedules/"+id, "").status)
	require.Equal(t, http.StatusNotFound, a.do(http.MethodGet, "/schedules/"+id, "").status)
}

// Responders may override for themselves (with a token or signed in to
// the console), admins for anyone.
func TestOverridesForOneselfOrAsAdmin(t *testing.T) {
	t.Parallel()
	a := newOncallAPI(t)
	ann := a.create("/users", `{"name":"Ann","email":"ann@example.com"}`)
	bob := a.create("/users", `{"name":"Bob","email":"bob@example.com"}`)
	id := a.create("/schedules", `{"name":"p","time_zone":"UTC","layers":[{"members":["`+ann+`"],"start":"2026-03-02T09:00","turn":"daily"}]}`)
	annToken := testenv.TokenFor(t, ann, auth.Responder)
	path := "/schedules/" + id + "/overrides"

	own := a.as(annToken, http.MethodPost, path, `{"user_id":"`+ann+`","start":"2026-04-01T00:00:00Z","end":"2026-04-02T00:00:00Z","replaces":"`+bob+`"}`)
	require.Equal(t, http.StatusCreated, own.status, own.body)
	require.Equal(t, ann, own.body["created_by"])
	other := a.as(annToken, http.MethodPost, path, `{"user_id":"`+bob+`","start":"2026-04-03T00:00:00Z","end":"2026-04-04T00:00:00Z"}`)
	require.Equal(t, http.StatusForbidden, other.status)
	require.Contains(t, other.errorMessage(), "needs the admin role")
	viewer := a.as(testenv.TokenFor(t, ann, auth.Viewer), http.MethodPost, path, `{"user_id":"`+ann+`","start":"2026-04-05T00:00:00Z","end":"2026-04-06T00:00:00Z"}`)
	require.Equal(t, http.StatusForbidden, viewer.status, "viewers make no overrides")
	admin := a.do(http.MethodPost, path, `{"user_id":"`+bob+`","start":"2026-04-03T00:00:00Z","end":"2026-04-04T00:00:00Z"}`)
	require.Equal(t, http.StatusCreated, admin.status, admin.body)

	bobs := path + "/" + admin.body["id"].(string)
	require.Equal(t, http.StatusForbidden, a.as(annToken, http.MethodDelete, bobs, "").status)
	require.Equal(t, http.StatusNoContent, a.as(annToken, http.MethodDelete, path+"/"+own.body["id"].(string), "").status)
	require.Equal(t, http.StatusNoContent, a.do(http.MethodDelete, bobs, "").status)
	require.Equal(t, http.StatusNotFound, a.do(http.MethodDelete, bobs, "").status)

	// Signed in to the web console, ann is the same person as with her
	// token: her own overrides, nobody else's.
	cookie, csrf := a.signIn(annToken)
	mine := a.withSession(cookie, csrf, http.MethodPost, path, `{"user_id":"`+ann+`","start":"2026-04-07T00:00:00Z","end":"2026-04-08T00:00:00Z"}`)
	require.Equal(t, http.StatusCreated, mine.status, mine.body)
	require.Equal(t, ann, mine.body["created_by"])
	theirs := a.withSession(cookie, csrf, http.MethodPost, path, `{"user_id":"`+bob+`","start":"2026-04-09T00:00:00Z","end":"2026-04-10T00:00:00Z"}`)
	require.Equal(t, http.StatusForbidden, theirs.status, theirs.body)
	require.Equal(t, http.StatusNoContent, a.withSession(cookie, csrf, http.MethodDelete, path+"/"+mine.body["id"].(string), "").status)
}

// signIn opens a console session with a user token and returns its cookie
// and CSRF token.
func (a *oncallAPI) signIn(token string) (cookie, csrf string) {
	a.t.Helper()
	ans := a.as("", http.MethodPost, "/sessions", `{"token":"`+token+`"}`)
	require.Equal(a.t, http.StatusCreated, ans.status, ans.body)
	for _, c := range (&http.Response{Header: ans.header}).Cookies() {
		if c.Name == "incident_session" {
			cookie = c.Name + "=" + c.Value
		}
	}
	require.NotEmpty(a.t, cookie)
	return cookie, ans.body["csrf_token"].(string)
}

// withSession sends a request as the console does: the session cookie,
// its CSRF token, from the console's own origin.
func (a *oncallAPI) withSession(cookie, csrf, method, path, body string) answer {
	a.t.Helper()
	return a.request(method, path, body, "Cookie", cookie, "X-CSRF-Token", csrf, "Sec-Fetch-Site", "same-origin")
}

// A feed's URL is its credential: it serves RFC 5545 to a client that
// sends nothing else, and stops working when the feed is made anew.
func TestCalendarFeeds(t *testing.T) {
	t.Parallel()
	a := newOncallAPI(t)
	ann := a.create("/users", `{"name":"Ann, the first","email":"ann@example.com"}`)
	bob := a.create("/users", `{"name":"Bob","email":"bob@example.com"}`)
	id := a.create("/schedules", `{"name":"primary","time_zone":"Europe/Berlin","layers":[
		{"members":["`+ann+`","`+bob+`"],"start":"2026-03-02T09:00","turn":"daily"}]}`)

	feed := a.do(http.MethodPost, "/schedules/"+id+"/calendar-feed", "")
	require.Equal(t, http.StatusCreated, feed.status, feed.body)
	path := feed.body["path"].(string)
	require.Regexp(t, `^/api/v1/calendars/cal_[a-z2-7]{26}\.[a-z2-7]{52}\.ics$`, path)
	require.Equal(t, "http://example.com"+path, feed.body["url"])

	status, header, body := a.raw(path)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "text/calendar; charset=utf-8", header.Get("Content-Type"))
	require.True(t, strings.HasPrefix(body, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"))
	require.Contains(t, body, "X-WR-CALNAME:On call: primary\r\n")
	require.Contains(t, body, `SUMMARY:On call: Ann\, the first (layer 1)`)
	require.Contains(t, body, "SUMMARY:On call: Bob (layer 1)")
	require.Contains(t, body, `DESCRIPTION:Schedule: primary\nOn call: Bob`)
	require.True(t, strings.HasSuffix(body, "END:VCALENDAR\r\n"))
	require.Equal(t, strings.Count(body, "BEGIN:VEVENT"), strings.Count(body, "END:VEVENT"))
	_, _, again := a.raw(path)
	uids := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\r\n") {
			if strings.HasPrefix(l, "UID:") {
				out = append(out, l)
			}
		}
		return out
	}
	require.Equal(t, uids(body), uids(again), "a re-fetch updates the same events")

	rotated := a.do(http.MethodPost, "/schedules/"+id+"/calendar-feed", "")
	require.Equal(t, http.StatusCreated, rotated.status)
	status, _, _ = a.raw(path)
	require.Equal(t, http.StatusNotFound, status, "the old URL stops working")
	status, _, _ = a.raw(rotated.body["path"].(string))
	require.Equal(t, http.StatusOK, status)
	status, _, _ = a.raw("/api/v1/calendars/cal_nothing.ics")
	require.Equal(t, http.StatusNotFound, status)

	// A user's own feed, made by the user with a viewer token; not by another.
	annViewer := testenv.TokenFor(t, ann, auth.Viewer)
	mine := a.as(annViewer, http.MethodPost, "/users/"+ann+"/calendar-feed", "")
	require.Equal(t, http.StatusCreated, mine.status, mine.body)
	require.Equal(t, http.StatusForbidden, a.as(annViewer, http.MethodPost, "/users/"+bob+"/calendar-feed", "").status)
	status, _, body = a.raw(mine.body["path"].(string))
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "X-WR-CALNAME:On call: Ann\\, the first\r\n")
	require.NotContains(t, body, "SUMMARY:On call: Bob", "only ann's shifts")
	require.Contains(t, body, `DESCRIPTION:Schedule: primary\nOn call: Ann\, the first`, "each event names its schedule")
	require.Equal(t, 1, strings.Count(body, "BEGIN:VCALENDAR"))
	require.Equal(t, http.StatusNoContent, a.as(annViewer, http.MethodDelete, "/users/"+ann+"/calendar-feed", "").status)
	status, _, _ = a.raw(mine.body["path"].(string))
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, http.StatusNotFound, a.do(http.MethodDelete, "/users/"+ann+"/calendar-feed", "").status)
	require.Equal(t, http.StatusForbidden, a.as(testenv.TokenFor(t, ann, auth.Responder), http.MethodPost, "/schedules/"+id+"/calendar-feed", "").status,
		"a schedule's feed is an admin's")
}
