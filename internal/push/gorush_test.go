package push_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/push"
)

// recorded is one request a fake server received.
type recorded struct {
	Method, Path, ContentType, UserAgent, Body string
}

// fakeServer answers every request with status and answer, and records it.
func fakeServer(t *testing.T, status int, answer string) (*httptest.Server, func() []recorded) {
	t.Helper()
	var mu sync.Mutex
	var got []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, recorded{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), string(b)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []recorded {
		mu.Lock()
		defer mu.Unlock()
		return append([]recorded(nil), got...)
	}
}

// blockingServer holds every request until the client gives up on it. The
// body is read first: only then does the server watch the connection and
// cancel the request's context when the client hangs up.
func blockingServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// closedURL returns the URL of a server that no longer listens.
func closedURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func requirePushError(t *testing.T, err error, status int, permanent bool) *push.Error {
	t.Helper()
	require.Error(t, err)
	var pe *push.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, status, pe.Status, "status in %v", err)
	require.Equal(t, permanent, pe.Permanent, "permanent in %v", err)
	require.Equal(t, permanent, push.IsPermanent(err))
	return pe
}

// pushAnswer is Gorush v1.22.0's answer to one iOS push with core.sync on
// and APNs unreachable, as recorded from a running server.
const pushAnswer = `{"counts":1,"logs":[{"type":"failed-push","platform":"ios","token":"abc","message":"hi",` +
	`"error":"Post \"https://api.sandbox.push.apple.com/3/device/abc\": dial tcp: lookup api.sandbox.push.apple.com: no such host"}],"success":"ok"}`

func TestSendPostsGorushRequestAndDecodesAnswer(t *testing.T) {
	t.Parallel()
	srv, requests := fakeServer(t, http.StatusOK, pushAnswer)
	g := push.NewGorush(srv.URL+"/", time.Second)

	res, err := g.Send(t.Context(), push.Notification{
		ID:                "page-1",
		Tokens:            []string{"abc"},
		Platform:          push.PlatformIOS,
		Title:             "[critical] db down",
		Message:           "hi",
		Priority:          "high",
		Topic:             "com.example.pager",
		Sound:             "default",
		InterruptionLevel: "time-sensitive",
		Data:              map[string]any{"incident_id": "inc-1"},
	}, push.Notification{Tokens: []string{"t2"}, Platform: push.PlatformAndroid})
	require.NoError(t, err)

	got := requests()
	require.Len(t, got, 1)
	require.Equal(t, http.MethodPost, got[0].Method)
	require.Equal(t, "/api/push", got[0].Path)
	require.Equal(t, "application/json", got[0].ContentType)
	require.Equal(t, "incident-server", got[0].UserAgent)
	require.Equal(t, `{"notifications":[`+
		`{"notif_id":"page-1","tokens":["abc"],"platform":1,"title":"[critical] db down","message":"hi","priority":"high",`+
		`"topic":"com.example.pager","sound":"default","interruption_level":"time-sensitive","data":{"incident_id":"inc-1"}},`+
		`{"tokens":["t2"],"platform":2}]}`, got[0].Body)

	require.Equal(t, 1, res.Counts)
	require.Equal(t, pushAnswer, res.Raw)
	want := push.Log{
		Type: "failed-push", Platform: "ios", Token: "abc", Message: "hi",
		Error: `Post "https://api.sandbox.push.apple.com/3/device/abc": dial tcp: lookup api.sandbox.push.apple.com: no such host`,
	}
	require.Equal(t, []push.Log{want}, res.Logs)
	require.Equal(t, []push.Log{want}, res.Failed())
}

func TestSendReportsSuccessWithoutLogs(t *testing.T) {
	t.Parallel()
	srv, _ := fakeServer(t, http.StatusOK, `{"counts":2,"logs":[],"success":"ok"}`)
	res, err := push.NewGorush(srv.URL, time.Second).Send(t.Context(),
		push.Notification{Tokens: []string{"a", "b"}, Platform: push.PlatformIOS, Message: "m"})
	require.NoError(t, err)
	require.Equal(t, 2, res.Counts)
	require.Empty(t, res.Logs)
	require.Empty(t, res.Failed())
}

func TestSendClassifiesErrorAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusBadRequest, true},
		{http.StatusNotFound, true},
		{http.StatusUnprocessableEntity, true},
		{http.StatusRequestTimeout, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusBadGateway, false},
		{http.StatusServiceUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			answer := `{"code":` + strconv.Itoa(tt.status) + `,"message":"Missing notifications field."}`
			srv, _ := fakeServer(t, tt.status, answer)
			_, err := push.NewGorush(srv.URL, time.Second).Send(t.Context(),
				push.Notification{Tokens: []string{"abc"}, Platform: push.PlatformIOS})
			pe := requirePushError(t, err, tt.status, tt.permanent)
			require.Equal(t, "gorush push", pe.Op)
			require.Equal(t, answer, pe.Body)
			require.Contains(t, err.Error(), "Missing notifications field.")
		})
	}
}

func TestErrorBodyIsTruncatedTo1KiB(t *testing.T) {
	t.Parallel()
	// 1 + 2×511 bytes, then half of an "é": the half is dropped.
	srv, _ := fakeServer(t, http.StatusBadRequest, "a"+strings.Repeat("é", 3000))
	_, err := push.NewGorush(srv.URL, time.Second).Send(t.Context(),
		push.Notification{Tokens: []string{"abc"}, Platform: push.PlatformIOS})
	pe := requirePushError(t, err, http.StatusBadRequest, true)
	require.Equal(t, "a"+strings.Repeat("é", 511), pe.Body)
}

func TestSendTimeoutIsRetryable(t *testing.T) {
	t.Parallel()
	srv := blockingServer(t)
	_, err := push.NewGorush(srv.URL, 50*time.Millisecond).Send(t.Context(),
		push.Notification{Tokens: []string{"abc"}, Platform: push.PlatformIOS})
	requirePushError(t, err, 0, false)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "not a timeout: %v", err)
}

func TestSendCancelledIsNotPermanent(t *testing.T) {
	t.Parallel()
	srv := blockingServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := push.NewGorush(srv.URL, time.Second).Send(ctx,
		push.Notification{Tokens: []string{"abc"}, Platform: push.PlatformIOS})
	requirePushError(t, err, 0, false)
	require.ErrorIs(t, err, context.Canceled)
}

func TestSendConnectionRefusedIsRetryable(t *testing.T) {
	t.Parallel()
	_, err := push.NewGorush(closedURL(t), time.Second).Send(t.Context(),
		push.Notification{Tokens: []string{"abc"}, Platform: push.PlatformIOS})
	requirePushError(t, err, 0, false)
}

func TestSendRejectsAnswersThatAreNotGorush(t *testing.T) {
	t.Parallel()
	for name, answer := range map[string]string{
		"malformed JSON":    `{"counts":1,"logs":[`,
		"HTML":              `<html>welcome</html>`,
		"JSON without keys": `{}`,
		"not ok":            `{"counts":1,"logs":[],"success":"no"}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, _ := fakeServer(t, http.StatusOK, answer)
			_, err := push.NewGorush(srv.URL, time.Second).Send(t.Context(),
				push.Notification{Tokens: []string{"abc"}, Platform: push.PlatformIOS})
			pe := requirePushError(t, err, http.StatusOK, true)
			require.Equal(t, answer, pe.Body)
			require.Contains(t, err.Error(), "decode answer")
		})
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	target, requests := fakeServer(t, http.StatusOK, `{"counts":1,"logs":[],"success":"ok"}`)
	srv := httptest.NewServer(http.RedirectHandler(target.URL+"/api/push", http.StatusFound))
	t.Cleanup(srv.Close)
	_, err := push.NewGorush(srv.URL, time.Second).Send(t.Context(),
		push.Notification{Tokens: []string{"abc"}, Platform: push.PlatformIOS})
	requirePushError(t, err, http.StatusFound, true)
	require.Empty(t, requests())
}

func TestSendRejectsRequestsItCannotMake(t *testing.T) {
	t.Parallel()
	srv, requests := fakeServer(t, http.StatusOK, pushAnswer)

	_, err := push.NewGorush(srv.URL, time.Second).Send(t.Context())
	requirePushError(t, err, 0, true)

	_, err = push.NewGorush(srv.URL, time.Second).Send(t.Context(), push.Notification{
		Tokens: []string{"abc"}, Platform: push.PlatformIOS, Data: map[string]any{"bad": make(chan int)},
	})
	requirePushError(t, err, 0, true)
	require.Empty(t, requests())

	for _, base := range []string{"", "127.0.0.1:58089", "ftp://127.0.0.1"} {
		_, err = push.NewGorush(base, time.Second).Send(t.Context(),
			push.Notification{Tokens: []string{"abc"}, Platform: push.PlatformIOS})
		requirePushError(t, err, 0, true)
	}
}

func TestStatsDecodesAppCounters(t *testing.T) {
	t.Parallel()
	srv, requests := fakeServer(t, http.StatusOK, `{"version":"v1.22.0","busy_workers":0,"success_tasks":3,"failure_tasks":0,`+
		`"submitted_tasks":3,"total_count":5,"ios":{"push_success":1,"push_error":4},"android":{"push_success":2,"push_error":3},`+
		`"huawei":{"push_success":6,"push_error":7}}`)
	s, err := push.NewGorush(srv.URL, time.Second).Stats(t.Context())
	require.NoError(t, err)
	require.Equal(t, push.AppStats{
		Version: "v1.22.0", SuccessTasks: 3, SubmittedTasks: 3, TotalCount: 5,
		IOS:     push.PlatformStats{PushSuccess: 1, PushError: 4},
		Android: push.PlatformStats{PushSuccess: 2, PushError: 3},
		Huawei:  push.PlatformStats{PushSuccess: 6, PushError: 7},
	}, s)
	require.Equal(t, []recorded{{Method: http.MethodGet, Path: "/api/stat/app", UserAgent: "incident-server"}}, requests())

	bad, _ := fakeServer(t, http.StatusOK, `[`)
	_, err = push.NewGorush(bad.URL, time.Second).Stats(t.Context())
	requirePushError(t, err, http.StatusOK, true)

	down, _ := fakeServer(t, http.StatusServiceUnavailable, ``)
	_, err = push.NewGorush(down.URL, time.Second).Stats(t.Context())
	requirePushError(t, err, http.StatusServiceUnavailable, false)
}

func TestHealthy(t *testing.T) {
	t.Parallel()
	ok, requests := fakeServer(t, http.StatusOK, ``)
	require.NoError(t, push.NewGorush(ok.URL, time.Second).Healthy(t.Context()))
	require.Equal(t, "/healthz", requests()[0].Path)

	down, _ := fakeServer(t, http.StatusInternalServerError, `boom`)
	err := push.NewGorush(down.URL, time.Second).Healthy(t.Context())
	requirePushError(t, err, http.StatusInternalServerError, false)

	err = push.NewGorush(closedURL(t), time.Second).Healthy(t.Context())
	requirePushError(t, err, 0, false)
}

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	require.False(t, push.IsPermanent(nil))
	require.False(t, push.IsPermanent(errors.New("plain")))
	require.False(t, push.IsPermanent(context.DeadlineExceeded))
	wrapped := &push.Error{Op: "gorush push", Status: 400, Permanent: true}
	require.True(t, push.IsPermanent(errors.Join(errors.New("send page"), wrapped)))
	require.Equal(t, `gorush push: status 400: body "nope"`, (&push.Error{Op: "gorush push", Status: 400, Body: "nope"}).Error())
	require.Equal(t, "webhook post: dial: refused", (&push.Error{Op: "webhook post", Err: errors.New("dial: refused")}).Error())
}

// TestRealGorush pushes through the Gorush that `make test` starts: iOS
// enabled with a local key, core.sync on, APNs unreachable.
