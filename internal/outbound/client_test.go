package outbound_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/incident-server/incident-server/internal/outbound"
)

// countingServer answers 200 "ok" (or as its handler says) and counts the
// connections made to it: a refused request must not reach it at all.
type countingServer struct {
	*httptest.Server
	conns    atomic.Int64
	requests atomic.Int64
}

func newCountingServer(t *testing.T, network, addr string, h http.Handler) *countingServer {
	t.Helper()
	ln, err := net.Listen(network, addr)
	require.NoError(t, err)
	return serveCounting(t, ln, h)
}

func serveCounting(t *testing.T, ln net.Listener, h http.Handler) *countingServer {
	t.Helper()
	s := &countingServer{}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	s.Listener.Close()
	s.Listener = ln
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *countingServer) port() string {
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	return port
}

func get(t *testing.T, c *outbound.Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func requireRefused(t *testing.T, err error, addr, reason string) {
	t.Helper()
	var re *outbound.RefusedError
	require.ErrorAs(t, err, &re)
	require.Equal(t, addr, re.Addr.String(), "refused address in %v", err)
	require.Equal(t, reason, re.Reason)
}

func TestLoopbackIsRefusedUnlessAllowed(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, "tcp4", "127.0.0.1:0", nil)

	_, err := get(t, newClient(t, outbound.Options{}), srv.URL+"/hook")
	requireRefused(t, err, "127.0.0.1", "loopback")
	require.Contains(t, err.Error(), "refused to connect to 127.0.0.1: loopback address")
	require.Zero(t, srv.conns.Load(), "no connection may be made to a refused address")

	for name, opts := range map[string]outbound.Options{
		"allow 127.0.0.1/32": {Allow: []string{"127.0.0.1/32"}},
		"allow private":      {AllowPrivate: true},
	} {
		resp, err := get(t, newClient(t, opts), srv.URL+"/hook")
		require.NoError(t, err, name)
		require.Equal(t, http.StatusOK, resp.StatusCode, name)
	}
	require.EqualValues(t, 2, srv.requests.Load())
}

func TestIPv6LoopbackAndUnspecifiedAreRefused(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, "tcp6", "[::1]:0", nil)
	c := newClient(t, outbound.Options{Allow: []string{"127.0.0.1/32"}})
	_, err := get(t, c, "http://[::1]:"+srv.port()+"/")
	requireRefused(t, err, "::1", "loopback")
	_, err = get(t, c, "http://[::ffff:127.0.0.2]:"+srv.port()+"/")
	requireRefused(t, err, "127.0.0.2", "loopback")
	// 0.0.0.0 reaches local listeners on Linux.
	_, err = get(t, c, "http://0.0.0.0:"+srv.port()+"/")
	requireRefused(t, err, "0.0.0.0", "unspecified (this network)")
	require.Zero(t, srv.conns.Load())
}

// A name is judged by the address it resolves to when the connection is
// made: localhost resolves to loopback on every machine.
func TestNameResolvingToLoopbackIsRefused(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, "tcp4", "127.0.0.1:0", nil)
	_, err := get(t, newClient(t, outbound.Options{}), "http://localhost:"+srv.port()+"/")
	var re *outbound.RefusedError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "localhost", re.Host)
	require.Equal(t, "loopback", re.Reason)
	require.Zero(t, srv.conns.Load())

	// Listing the name allows it, whatever it resolves to.
	resp, err := get(t, newClient(t, outbound.Options{Allow: []string{"localhost"}}), "http://localhost:"+srv.port()+"/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// fakeDNS answers every A query with addrs, changed by set, as an
// attacker's name server would to rebind a name that once looked public.
type fakeDNS struct {
	addr    string
	answers atomic.Pointer[[]netip.Addr]
	queries atomic.Int64
}

func newFakeDNS(t *testing.T) *fakeDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	d := &fakeDNS{addr: pc.LocalAddr().String()}
	d.set()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var q dnsmessage.Message
			if q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
				continue
			}
			d.queries.Add(1)
			ans := dnsmessage.Message{
				Header:    dnsmessage.Header{ID: q.ID, Response: true, Authoritative: true, RecursionAvailable: true},
				Questions: q.Questions,
			}
			qn := q.Questions[0]
			for _, a := range *d.answers.Load() {
				if qn.Type == dnsmessage.TypeA && a.Is4() {
					ans.Answers = append(ans.Answers, dnsmessage.Resource{
						Header: dnsmessage.ResourceHeader{Name: qn.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 0},
						Body:   &dnsmessage.AResource{A: a.As4()},
					})
				}
			}
			out, err := ans.Pack()
			if err == nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return d
}

func (d *fakeDNS) set(addrs ...string) {
	as := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		as[i] = netip.MustParseAddr(a)
	}
	d.answers.Store(&as)
}

// resolver sends every query to d, never to the machine's name servers.
func (d *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, "udp4", d.addr)
	}}
}

// DNS rebinding: the name is looked up when the connection is made, and
// the address it yields then is the one checked and connected to.
func TestDNSRebindingToLoopbackIsRefused(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, "tcp4", "127.0.0.1:0", nil)
	dns := newFakeDNS(t)
	dns.set("127.0.0.1")
	url := "http://hooks.rebind.test:" + srv.port() + "/"

	_, err := get(t, newClient(t, outbound.Options{Resolver: dns.resolver()}), url)
	requireRefused(t, err, "127.0.0.1", "loopback")
	require.Positive(t, dns.queries.Load(), "the name was resolved by the fake name server")
	require.Zero(t, srv.conns.Load())

	// The same name is connected to when its address is allowed: the check
	// judged the address, not the name.
	resp, err := get(t, newClient(t, outbound.Options{Resolver: dns.resolver(), Allow: []string{"127.0.0.1/32"}}), url)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.EqualValues(t, 1, srv.conns.Load())
}

// A name that resolves to both a refused and an allowed address is
// connected to through the allowed one only, though the refused one comes
// first in the answer.
func TestRefusedAddressAmongAnswersIsSkipped(t *testing.T) {
	t.Parallel()
	decoy, srv := twinServers(t)
	dns := newFakeDNS(t)
	dns.set("127.0.0.2", "127.0.0.1")
	c := newClient(t, outbound.Options{Resolver: dns.resolver(), Allow: []string{"127.0.0.1/32"}})
	resp, err := get(t, c, "http://both.rebind.test:"+srv.port()+"/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Zero(t, decoy.conns.Load(), "127.0.0.2 is refused and was not connected to")
	require.EqualValues(t, 1, srv.requests.Load())
}

// twinServers starts counting servers on 127.0.0.2 and 127.0.0.1 with the
// same port, retrying when the port is taken on 127.0.0.1.
func twinServers(t *testing.T) (on2, on1 *countingServer) {
	t.Helper()
	for range 10 {
		ln2, err := net.Listen("tcp4", "127.0.0.2:0")
		require.NoError(t, err)
		_, port, _ := net.SplitHostPort(ln2.Addr().String())
		ln1, err := net.Listen("tcp4", "127.0.0.1:"+port)
		if err != nil {
			ln2.Close()
			continue
		}
		return serveCounting(t, ln2, nil), serveCounting(t, ln1, nil)
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return nil, nil
}

func TestRedirectToRefusedAddressIsRefused(t *testing.T) {
	t.Parallel()
	target := newCountingServer(t, "tcp4", "127.0.0.1:0", nil)
	origin := newCountingServer(t, "tcp4", "127.0.0.1:0",
		http.RedirectHandler("http://127.0.0.1:"+target.port()+"/internal", http.StatusTemporaryRedirect))
	// The origin is allowed by name; the redirect names an address that is not.
	c := newClient(t, outbound.Options{Allow: []string{"localhost"}})
	_, err := get(t, c, "http://localhost:"+origin.port()+"/")
	requireRefused(t, err, "127.0.0.1", "loopback")
	require.EqualValues(t, 1, origin.requests.Load())
	require.Zero(t, target.conns.Load())

	v6 := newCountingServer(t, "tcp6", "[::1]:0", nil)
	origin6 := newCountingServer(t, "tcp4", "127.0.0.1:0",
		http.RedirectHandler("http://[::1]:"+v6.port()+"/", http.StatusFound))
	_, err = get(t, newClient(t, outbound.Options{Allow: []string{"127.0.0.1/32"}}), origin6.URL)
	requireRefused(t, err, "::1", "loopback")
	require.Zero(t, v6.conns.Load())
}

func TestRedirectsAreCappedAndSchemeChecked(t *testing.T) {
	t.Parallel()
	var srv *countingServer
	srv = newCountingServer(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/two":
			http.Redirect(w, r, "/one", http.StatusFound)
		case "/one":
			http.Redirect(w, r, "/done", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "done")
		}
	}))
	c := newClient(t, outbound.Options{AllowPrivate: true})

	resp, err := get(t, c, srv.URL+"/two")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, "done", string(body))

	before := srv.requests.Load()
	_, err = get(t, c, srv.URL+"/loop")
	require.ErrorContains(t, err, "stopped after 3 redirects")
	require.EqualValues(t, 4, srv.requests.Load()-before, "the first request and 3 redirects")

	_, err = get(t, c, srv.URL+"/file")
	var re *outbound.RefusedError
	require.ErrorAs(t, err, &re)
	require.Contains(t, re.Reason, `scheme "file"`)

	noFollow := newClient(t, outbound.Options{AllowPrivate: true, MaxRedirects: -1})
	resp, err = get(t, noFollow, srv.URL+"/two")
	require.NoError(t, err)
	require.Equal(t, http.StatusFound, resp.StatusCode)
}

func TestOnlyHTTPAndHTTPSAreFetched(t *testing.T) {
	t.Parallel()
	c := newClient(t, outbound.Options{AllowPrivate: true})
	for _, u := range []string{"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1:70/"} {
		_, err := get(t, c, u)
		require.True(t, outbound.IsRefused(err), "%s: %v", u, err)
	}
}

// Proxy settings from the environment are ignored: through a proxy, the
// dialed address would be the proxy's, and the check would judge the proxy
// instead of the destination.
func TestEnvironmentProxyIsIgnored(t *testing.T) {
	proxy := newCountingServer(t, "tcp4", "127.0.0.1:0", nil)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	srv := newCountingServer(t, "tcp4", "127.0.0.1:0", nil)
	dns := newFakeDNS(t)
	dns.set("127.0.0.1")
	c := newClient(t, outbound.Options{Resolver: dns.resolver(), Allow: []string{"127.0.0.1/32"}})
	_, err := get(t, c, "http://direct.proxy.test:"+srv.port()+"/")
	require.NoError(t, err)
	require.Zero(t, proxy.conns.Load())
	require.EqualValues(t, 1, srv.requests.Load())
}

func TestAnswerBodyIsBounded(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	resp, err := get(t, newClient(t, outbound.Options{AllowPrivate: true}), srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Len(t, body, outbound.DefaultMaxBody)
}

func TestUserAgentAndTimeout(t *testing.T) {
	t.Parallel()
	var ua atomic.Value
	srv := newCountingServer(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
		}
	}))
	c := newClient(t, outbound.Options{AllowPrivate: true, Timeout: 100 * time.Millisecond, UserAgent: "probe/1"})
	_, err := get(t, c, srv.URL)
	require.NoError(t, err)
	require.Equal(t, "probe/1", ua.Load())

	start := time.Now()
	_, err = get(t, c, srv.URL+"/slow")
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "not a timeout: %v", err)
	require.Less(t, time.Since(start), 5*time.Second)
	require.False(t, outbound.IsRefused(err))
	require.False(t, strings.Contains(err.Error(), "refused"))
}

// CheckURL refuses, before anything is saved, the URLs whose host is a
// literal refused address, and leaves host names to the dial-time check.
func TestCheckURLRefusesLiteralAddressesOnly(t *testing.T) {
	t.Parallel()
	c, err := outbound.NewClient(outbound.Options{Allow: []string{"10.20.0.0/16"}})
	require.NoError(t, err)
	refused := map[string]string{
		"http://169.254.169.254/latest/meta-data/": "link-local (cloud metadata)",
		"http://127.0.0.1:8080/hook":               "loopback",
		"https://[::1]/hook":                       "loopback",
		"http://10.1.2.3/hook":                     "private",
		"http://[::ffff:192.168.1.1]/x":            "private",
	}
	for raw, reason := range refused {
		err := c.CheckURL(raw)
		var re *outbound.RefusedError
		require.ErrorAs(t, err, &re, raw)
		require.Equal(t, reason, re.Reason, raw)
	}
	for _, raw := range []string{
		"https://hooks.slack.com/services/T0/B0/x", // a name: judged when dialed
		"http://localhost/hook",
		"http://10.20.0.7/hook", // allowed
		"https://93.184.215.14/hook",
		"::not a url",
	} {
		require.NoError(t, c.CheckURL(raw), raw)
	}

	open, err := outbound.NewClient(outbound.Options{AllowPrivate: true})
	require.NoError(t, err)
	require.NoError(t, open.CheckURL("http://127.0.0.1/hook"))
}
