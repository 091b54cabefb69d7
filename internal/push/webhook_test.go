package push_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/push"
)

// devWebhook is a development webhook client: the fake endpoints of these
// tests listen on 127.0.0.1.
func devWebhook(t *testing.T, timeout time.Duration) *push.Webhook {
	t.Helper()
	w, err := push.NewWebhookWith(push.WebhookOptions{Timeout: timeout, AllowPrivate: true})
	require.NoError(t, err)
	return w
}

func TestWebhookPostsJSON(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusOK, http.StatusAccepted, http.StatusNoContent} {
		srv, requests := fakeServer(t, status, `ignored`)
		got, err := devWebhook(t, time.Second).Post(t.Context(), srv.URL+"/hooks/pager?x=1",
			map[string]any{"incident_id": "inc-1", "status": "open", "step": 2})
		require.NoError(t, err)
		require.Equal(t, status, got)
		require.Equal(t, []recorded{{
			Method: http.MethodPost, Path: "/hooks/pager", ContentType: "application/json", UserAgent: "incident-server",
			Body: `{"incident_id":"inc-1","status":"open","step":2}`,
		}}, requests())
	}
}

func TestWebhookSlackBody(t *testing.T) {
	t.Parallel()
	srv, requests := fakeServer(t, http.StatusOK, `ok`)
	_, err := devWebhook(t, time.Second).Post(t.Context(), srv.URL, push.SlackBody(`[critical] db down: "primary" <gone>`))
	require.NoError(t, err)
	require.Equal(t, `{"text":"[critical] db down: \"primary\" \u003cgone\u003e"}`, requests()[0].Body)
	var back map[string]string
	require.NoError(t, json.Unmarshal([]byte(requests()[0].Body), &back))
	require.Equal(t, map[string]string{"text": `[critical] db down: "primary" <gone>`}, back)
}

func TestWebhookClassifiesErrorAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusBadRequest, true},
		{http.StatusUnauthorized, true},
		{http.StatusForbidden, true},
		{http.StatusNotFound, true},
		{http.StatusGone, true},
		{http.StatusRequestTimeout, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusServiceUnavailable, false},
		{http.StatusGatewayTimeout, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			srv, _ := fakeServer(t, tt.status, `invalid_token`)
			status, err := devWebhook(t, time.Second).Post(t.Context(), srv.URL, push.SlackBody("x"))
			require.Equal(t, tt.status, status)
			pe := requirePushError(t, err, tt.status, tt.permanent)
			require.Equal(t, "webhook post", pe.Op)
			require.Equal(t, "invalid_token", pe.Body)
		})
	}
}

func TestWebhookRedirectIsPermanent(t *testing.T) {
	t.Parallel()
	target, requests := fakeServer(t, http.StatusOK, ``)
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusMovedPermanently))
	t.Cleanup(srv.Close)
	status, err := devWebhook(t, time.Second).Post(t.Context(), srv.URL, push.SlackBody("x"))
	require.Equal(t, http.StatusMovedPermanently, status)
	requirePushError(t, err, http.StatusMovedPermanently, true)
	require.Empty(t, requests(), "a redirect must not turn the POST into a GET that passes for a delivery")
}

func TestWebhookTimeoutIsRetryableAndHidesThePath(t *testing.T) {
	t.Parallel()
	srv := blockingServer(t)
	status, err := devWebhook(t, 50*time.Millisecond).Post(t.Context(), srv.URL+"/services/T000/B000/SECRET", push.SlackBody("x"))
	require.Zero(t, status)
	requirePushError(t, err, 0, false)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "not a timeout: %v", err)
	require.NotContains(t, err.Error(), "SECRET")
	require.Contains(t, err.Error(), strings.TrimPrefix(srv.URL, "http://"))
}

func TestWebhookConnectionRefusedIsRetryable(t *testing.T) {
	t.Parallel()
	status, err := devWebhook(t, time.Second).Post(t.Context(), closedURL(t)+"/hook?token=SECRET", push.SlackBody("x"))
	require.Zero(t, status)
	requirePushError(t, err, 0, false)
	require.NotContains(t, err.Error(), "SECRET")
}

func TestWebhookReadsAtMost64KiB(t *testing.T) {
	t.Parallel()
	// The answer never ends: a client that read it all would time out.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	status, err := devWebhook(t, 10*time.Second).Post(t.Context(), srv.URL, push.SlackBody("x"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
}

func TestWebhookRejectsRequestsItCannotMake(t *testing.T) {
	t.Parallel()
	srv, requests := fakeServer(t, http.StatusOK, ``)
	w := devWebhook(t, time.Second)
	for _, u := range []string{"", "hooks.example.com/x", "ftp://127.0.0.1/x", "http://", "http://[::1"} {
		status, err := w.Post(t.Context(), u, push.SlackBody("x"))
		require.Zero(t, status)
		requirePushError(t, err, 0, true)
	}
	_, err := w.Post(t.Context(), srv.URL, map[string]any{"bad": func() {}})
	requirePushError(t, err, 0, true)
	require.Empty(t, requests())
}

func TestWebhookRefusesInternalAddressesPermanently(t *testing.T) {
	t.Parallel()
	srv, requests := fakeServer(t, http.StatusOK, ``)
	w, err := push.NewWebhookWith(push.WebhookOptions{Timeout: time.Second})
	require.NoError(t, err)
	for _, u := range []string{
		srv.URL + "/services/T000/B000/SECRET",
		strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/hook?token=SECRET",
	} {
		status, err := w.Post(t.Context(), u, push.SlackBody("x"))
		require.Zero(t, status)
		pe := requirePushError(t, err, 0, true)
		require.Equal(t, "webhook post", pe.Op)
		var re *outbound.RefusedError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "loopback", re.Reason)
		require.NotContains(t, err.Error(), "SECRET")
	}
	require.Empty(t, requests(), "a refused destination is never connected to")
}

func TestWebhookAllowListReachesListedAddress(t *testing.T) {
	t.Parallel()
	srv, requests := fakeServer(t, http.StatusOK, ``)
	w, err := push.NewWebhookWith(push.WebhookOptions{Timeout: time.Second, Allow: []string{"127.0.0.1/32"}})
	require.NoError(t, err)
	status, err := w.Post(t.Context(), srv.URL+"/hook", push.SlackBody("x"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, requests(), 1)

	_, err = push.NewWebhookWith(push.WebhookOptions{Allow: []string{"10.0.0.0/8", "not a host"}})
	require.ErrorContains(t, err, `outbound allow entry "not a host"`)
}

func TestWebhookSignsBodies(t *testing.T) {
	t.Parallel()
	type delivery struct {
		signature string
		body      []byte
	}
	got := make(chan delivery, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Get(outbound.SignatureHeader), b}
	}))
	t.Cleanup(srv.Close)
	secret := []byte("whsec_0123456789")

	w, err := push.NewWebhookWith(push.WebhookOptions{AllowPrivate: true, SigningSecret: secret})
	require.NoError(t, err)
	_, err = w.Post(t.Context(), srv.URL, map[string]any{"incident_id": "inc-1"})
	require.NoError(t, err)
	d := <-got
	require.Regexp(t, `^t=\d+,v1=[0-9a-f]{64}$`, d.signature)
	require.NoError(t, outbound.Verify(secret, d.signature, d.body, time.Now(), time.Minute))
	require.ErrorIs(t, outbound.Verify([]byte("other"), d.signature, d.body, time.Now(), time.Minute), outbound.ErrSignatureMismatch)

	_, err = devWebhook(t, time.Second).Post(t.Context(), srv.URL, map[string]any{"incident_id": "inc-1"})
	require.NoError(t, err)
	require.Empty(t, (<-got).signature, "no secret, no signature")
}

func TestRefusalIsPermanent(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("deliver: %w", &outbound.RefusedError{Addr: netip.MustParseAddr("169.254.169.254"), Reason: "link-local"})
	require.True(t, push.IsPermanent(err))
	require.False(t, push.IsPermanent(errors.New("connection reset")))
}
