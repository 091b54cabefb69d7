package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// oncallAPI serves the API over a fresh schema with no Temporal client: the
// on-call routes need only the store.
type oncallAPI struct {
	t       *testing.T
	handler http.Handler
	pool    *pgxpool.Pool
	store   *store.Store
}

func newOncallAPI(t *testing.T) *oncallAPI {
	t.Helper()
	return newOncallAPIWith(t, api.Options{})
}

// newOncallAPIWith serves opts, with the test's store and token check.
func newOncallAPIWith(t *testing.T, opts api.Options) *oncallAPI {
	t.Helper()
	pool := testenv.Postgres(t)
	opts.Store, opts.Tokens = testenv.Store(t, pool), testenv.Tokens(t)
	return &oncallAPI{t: t, handler: api.New(opts), pool: pool, store: opts.Store}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a answer) errorMessage() string {
	e, _ := a.body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func (a *oncallAPI) do(method, path, body string) answer {
	a.t.Helper()
	return a.request(method, path, body, "Authorization", "Bearer "+testenv.Token(a.t, auth.Admin))
}

// request serves a request with the header pairs given (an empty value
// sets nothing) and decodes a JSON answer.
func (a *oncallAPI) request(method, path, body string, header ...string) answer {
	a.t.Helper()
	rec := a.serve(method, path, body, header...)
	ans := answer{status: rec.Code, header: rec.Header()}
	if rec.Body.Len() > 0 {
		require.NoError(a.t, json.Unmarshal(rec.Body.Bytes(), &ans.body), rec.Body.String())
	}
	return ans
}

// serve serves a request with the header pairs given (an empty value sets
// nothing) and returns the recorded answer.
func (a *oncallAPI) serve(method, path, body string, header ...string) *httptest.ResponseRecorder {
	a.t.Helper()
	req := httptest.NewRequestWithContext(a.t.Context(), method, "/api/v1"+path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	return rec
}

// create posts body and returns the new object's ID.
func (a *oncallAPI) create(path, body string) string {
	a.t.Helper()
	ans := a.do(http.MethodPost, path, body)
	require.Equal(a.t, http.StatusCreated, ans.status, ans.body)
	id, _ := ans.body["id"].(string)
	require.NotEmpty(a.t, id)
	require.Equal(a.t, "/api/v1"+path+"/"+id, ans.header.Get("Location"))
	return id
}

// rows counts every on-call row, to show a rejected request wrote nothing.
func (a *oncallAPI) rows() int {
	a.t.Helper()
	var n int
	require.NoError(a.t, a.pool.QueryRow(a.t.Context(), `SELECT
		(SELECT count(*) FROM users) + (SELECT count(*) FROM contact_methods) +
		(SELECT count(*) FROM escalation_policies) + (SELECT count(*) FROM services)`).Scan(&n))
	return n
}

func TestOncallLifecycle(t *testing.T) {
	t.Parallel()
	a := newOncallAPI(t)

	ann := a.create("/users", `{"name":"Ann","email":"Ann@Example.com","time_zone":"Europe/Berlin",
		"contact_methods":[{"type":"push","platform":"ios","token":"tok-1","label":"phone"},
		                   {"type":"webhook","url":"https://hooks.example.com/ann"}]}`)
	got := a.do(http.MethodGet, "/users/"+ann, "")
	require.Equal(t, http.StatusOK, got.status)
	require.Equal(t, "ann@example.com", got.body["email"])
	require.Equal(t, "responder", got.body["role"])
	cms := got.body["contact_methods"].([]any)
	require.Len(t, cms, 2)
	require.Equal(t, "json", cms[1].(map[string]any)["format"], "webhook format defaults to json")

	// A body read with GET can be edited and sent back.
	got.body["name"] = "Ann Admin"
	got.body["role"] = "admin"
	edited, err := json.Marshal(got.body)
	require.NoError(t, err)
	put := a.do(http.MethodPut, "/users/"+ann, string(edited))
	require.Equal(t, http.StatusOK, put.status, put.body)
	require.Equal(t, "Ann Admin", put.body["name"])
	require.Equal(t, cms[0].(map[string]any)["id"], put.body["contact_methods"].([]any)[0].(map[string]any)["id"])

	bob := a.create("/users", `{"name":"Bob","email":"bob@example.com"}`)
	list := a.do(http.MethodGet, "/users", "")
	require.Equal(t, http.StatusOK, list.status)
	require.Len(t, list.body["users"], 2)

	dup := a.do(http.MethodPost, "/users", `{"name":"Ann again","email":"ann@example.com"}`)
	require.Equal(t, http.StatusConflict, dup.status)
	require.Equal(t, "a user with email ann@example.com exists", dup.errorMessage())

	pol := a.create("/escalation-policies", `{"name":"primary","repeat":1,"steps":[
		{"delay":"10m","targets":[{"type":"user","id":"`+ann+`"}]},
		{"delay":300,"targets":[{"type":"user","id":"`+bob+`"}]}]}`)
	p := a.do(http.MethodGet, "/escalation-policies/"+pol, "")
	require.Equal(t, http.StatusOK, p.status)
	require.EqualValues(t, 1, p.body["version"])
	require.Equal(t, "5m0s", p.body["steps"].([]any)[1].(map[string]any)["delay"])
	p = a.do(http.MethodPut, "/escalation-policies/"+pol, `{"name":"primary","steps":[{"targets":[{"type":"user","id":"`+ann+`"}]}]}`)
	require.Equal(t, http.StatusOK, p.status, p.body)
	require.EqualValues(t, 2, p.body["version"])
	require.Len(t, a.do(http.MethodGet, "/escalation-policies", "").body["escalation_policies"], 1)

	svc := a.create("/services", `{"id":"checkout","description":"pays","escalation_policy_id":"`+pol+`","ack_timeout":"30m"}`)
	require.Equal(t, "checkout", svc)
	sv := a.do(http.MethodGet, "/services/checkout", "")
	require.Equal(t, http.StatusOK, sv.status)
	require.Equal(t, "checkout", sv.body["name"])
	require.Equal(t, "30m0s", sv.body["ack_timeout"])
	sv = a.do(http.MethodPut, "/services/checkout", `{"name":"Checkout","escalation_policy_id":"`+pol+`"}`)
	require.Equal(t, http.StatusOK, sv.status, sv.body)
	require.Equal(t, "0s", sv.body["ack_timeout"])
	require.Len(t, a.do(http.MethodGet, "/services", "").body["services"], 1)

	inUse := a.do(http.MethodDelete, "/escalation-policies/"+pol, "")
	require.Equal(t, http.StatusConflict, inUse.status)
	require.Equal(t, "policy is used by service checkout", inUse.errorMessage())
	targeted := a.do(http.MethodDelete, "/users/"+ann, "")
	require.Equal(t, http.StatusConflict, targeted.status)
	require.Equal(t, "user is a target of policy "+pol, targeted.errorMessage())

	require.Equal(t, http.StatusNoContent, a.do(http.MethodDelete, "/services/checkout", "").status)
	require.Equal(t, http.StatusNoContent, a.do(http.MethodDelete, "/escalation-policies/"+pol, "").status)
	require.Equal(t, http.StatusNoContent, a.do(http.MethodDelete, "/users/"+ann, "").status)
	require.Equal(t, http.StatusNoContent, a.do(http.MethodDelete, "/users/"+bob, "").status)
	require.Equal(t, 0, a.rows())

	for path, msg := range map[string]string{
		"/users/" + ann:               "user not found",
		"/escalation-policies/" + pol: "escalation policy not found",
		"/services/checkout":          "service not found",
	} {
		gone := a.do(http.MethodGet, path, "")
		require.Equal(t, http.StatusNotFound, gone.status, path)
		require.Equal(t, msg, gone.errorMessage())
		require.Equal(t, http.StatusNotFound, a.do(http.MethodDelete, path, "").status, path)
	}
	list = a.do(http.MethodGet, "/users", "")
	require.Equal(t, []any{}, list.body["users"], "an empty list is [], not null")
}

func TestOncallRejectsBadInput(t *testing.T) {
	t.Parallel()
	a := newOncallAPI(t)
	ann := a.create("/users", `{"name":"Ann","email":"ann@example.com"}`)
	pol := a.create("/escalation-policies", `{"name":"primary","steps":[{"targets":[{"type":"user","id":"`+ann+`"}]}]}`)
	a.create("/services", `{"id":"checkout","escalation_policy_id":"`+pol+`"}`)
	before := a.rows()

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		message                  string
	}{
		{"unknown platform", http.MethodPost, "/users",
			`{"name":"Bob","email":"bob@example.com","contact_methods":[{"type":"push","platform":"blackberry","token":"t"}]}`,
			http.StatusBadRequest, "contact_methods[0].platform: must be one of ios, android, huawei"},
		{"webhook with ftp url", http.MethodPost, "/users",
			`{"name":"Bob","email":"bob@example.com","contact_methods":[{"type":"webhook","url":"ftp://hooks.example.com/x"}]}`,
			http.StatusBadRequest, "contact_methods[0].url: must be an absolute http or https URL"},
		{"unknown field", http.MethodPost, "/users",
			`{"name":"Bob","email":"bob@example.com","nickname":"bobby"}`,
			http.StatusBadRequest, `unknown field "nickname"`},
		{"duplicate email", http.MethodPost, "/users",
			`{"name":"Ann 2","email":"ANN@example.com"}`,
			http.StatusConflict, "a user with email ann@example.com exists"},
		{"id other than the url's", http.MethodPut, "/users/" + ann,
			`{"id":"usr_someone_else","name":"Ann","email":"ann@example.com"}`,
			http.StatusBadRequest, "id: does not match the URL"},
		{"update of a missing user", http.MethodPut, "/users/usr_missing",
			`{"name":"Nobody","email":"nobody@example.com"}`,
			http.StatusNotFound, "user not found"},
		{"empty steps", http.MethodPost, "/escalation-policies",
			`{"name":"empty","steps":[]}`,
			http.StatusBadRequest, "steps: needs at least one step"},
		{"negative delay", http.MethodPost, "/escalation-policies",
			`{"name":"backwards","steps":[{"delay":"-5m","targets":[{"type":"user","id":"` + ann + `"}]}]}`,
			http.StatusBadRequest, "steps[0].delay: must not be negative"},
		{"policy targeting an unknown user", http.MethodPost, "/escalation-policies",
			`{"name":"ghost","steps":[{"targets":[{"type":"user","id":"` + ann + `"},{"type":"user","id":"usr_nobody"}]}]}`,
			http.StatusBadRequest, "steps[0].targets[1].id: no such user"},
		{"policy update targeting an unknown user", http.MethodPut, "/escalation-policies/" + pol,
			`{"name":"ghost","steps":[{"targets":[{"type":"user","id":"usr_nobody"}]}]}`,
			http.StatusBadRequest, "steps[0].targets[0].id: no such user"},
		{"service with unknown policy", http.MethodPost, "/services",
			`{"id":"search","escalation_policy_id":"pol_missing"}`,
			http.StatusBadRequest, "escalation_policy_id: no such policy"},
		{"service id in use", http.MethodPost, "/services",
			`{"id":"checkout"}`,
			http.StatusConflict, "a service with id checkout exists"},
		{"service id with a slash", http.MethodPost, "/services",
			`{"id":"check/out"}`,
			http.StatusBadRequest, "id: may hold only letters, digits, '.', '_' and '-' (at most 128)"},
		{"delete policy in use", http.MethodDelete, "/escalation-policies/" + pol, "",
			http.StatusConflict, "policy is used by service checkout"},
		{"delete user targeted by a policy", http.MethodDelete, "/users/" + ann, "",
			http.StatusConflict, "user is a target of policy " + pol},
		{"malformed JSON", http.MethodPost, "/services", `{"id":`,
			http.StatusBadRequest, "malformed JSON: unexpected end of input"},
	} {
		ans := a.do(tc.method, tc.path, tc.body)
		require.Equal(t, tc.status, ans.status, "%s: %v", tc.name, ans.body)
		require.Equal(t, tc.message, ans.errorMessage(), tc.name)
		require.Equal(t, before, a.rows(), "%s: nothing is written", tc.name)
	}

	p := a.do(http.MethodGet, "/escalation-policies/"+pol, "")
	require.EqualValues(t, 1, p.body["version"], "a rejected update leaves the version")

	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/v1/users", strings.NewReader(`name=Bob`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+testenv.Token(t, auth.Admin))
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	require.Equal(t, http.StatusUnsupportedMediaType, rec.Code)
}

func TestOncallDatabaseDown(t *testing.T) {
	t.Parallel()
	a := newOncallAPI(t)
	a.pool.Close()
	for _, path := range []string{"/users", "/escalation-policies", "/services/checkout"} {
		ans := a.do(http.MethodGet, path, "")
		require.Equal(t, http.StatusServiceUnavailable, ans.status, path)
		require.Equal(t, "5", ans.header.Get("Retry-After"))
		require.NotContains(t, ans.errorMessage(), "closed", "internal details stay in the log")
	}
}

const slackHook = "https://hooks.slack.com/services/T0001/B0001/sEcReTsEcReT"

// Answers show webhook URLs by scheme and host only; a user read, edited
// and sent back keeps its stored URL, and a new full URL replaces it.
func TestWebhookURLsAreRedactedAndKeptOnPut(t *testing.T) {
	t.Parallel()
	a := newOncallAPI(t)
	created := a.do(http.MethodPost, "/users", `{"name":"Ann","email":"ann@example.com",
		"contact_methods":[{"type":"webhook","url":"`+slackHook+`","format":"slack"},{"type":"push","platform":"ios","token":"tok-1"}]}`)
	require.Equal(t, http.StatusCreated, created.status, created.body)
	id := created.body["id"].(string)
	hookOf := func(body map[string]any) map[string]any {
		return body["contact_methods"].([]any)[0].(map[string]any)
	}
	require.Equal(t, "https://hooks.slack.com/…", hookOf(created.body)["url"])
	require.Equal(t, "tok-1", created.body["contact_methods"].([]any)[1].(map[string]any)["token"], "device tokens are shown")
	got := a.do(http.MethodGet, "/users/"+id, "")
	require.Equal(t, "https://hooks.slack.com/…", hookOf(got.body)["url"])
	list := a.do(http.MethodGet, "/users", "")
	require.Equal(t, "https://hooks.slack.com/…", hookOf(list.body["users"].([]any)[0].(map[string]any))["url"])
	for _, ans := range []answer{created, got, list} {
		raw, err := json.Marshal(ans.body)
		require.NoError(t, err)
		require.NotContains(t, string(raw), "sEcReT")
	}
	stored := func() string {
		u, err := a.store.GetUser(t.Context(), id)
		require.NoError(t, err)
		return u.ContactMethods[0].URL
	}

	// GET, edit, PUT: the redacted URL keeps the stored one.
	got.body["name"] = "Ann B."
	edited, err := json.Marshal(got.body)
	require.NoError(t, err)
	put := a.do(http.MethodPut, "/users/"+id, string(edited))
	require.Equal(t, http.StatusOK, put.status, put.body)
	require.Equal(t, "https://hooks.slack.com/…", hookOf(put.body)["url"])
	require.Equal(t, slackHook, stored())

	// A redacted URL under another method's ID, or none, matches nothing.
	for _, body := range []string{
		`{"name":"Ann","email":"ann@example.com","contact_methods":[{"type":"webhook","url":"https://hooks.slack.com/…"}]}`,
		`{"name":"Ann","email":"ann@example.com","contact_methods":[{"id":"cm_other","type":"webhook","url":"https://hooks.slack.com/…"}]}`,
		`{"name":"Ann","email":"ann@example.com","contact_methods":[{"id":"` + hookOf(got.body)["id"].(string) + `","type":"webhook","url":"https://hooks.example.com/…"}]}`,
	} {
		bad := a.do(http.MethodPut, "/users/"+id, body)
		require.Equal(t, http.StatusBadRequest, bad.status, body)
		require.Contains(t, bad.errorMessage(), "contact_methods[0].url: is a redacted URL")
	}
	bad := a.do(http.MethodPost, "/users", `{"name":"Bob","email":"bob@example.com","contact_methods":[{"type":"webhook","url":"https://hooks.slack.com/…"}]}`)
	require.Equal(t, http.StatusBadRequest, bad.status)
	require.Equal(t, slackHook, stored(), "refused writes change nothing")

	// A different full URL replaces the stored one.
	hookOf(got.body)["url"] = slackHook + "/rotated"
	edited, err = json.Marshal(got.body)
	require.NoError(t, err)
	put = a.do(http.MethodPut, "/users/"+id, string(edited))
	require.Equal(t, http.StatusOK, put.status, put.body)
	require.Equal(t, slackHook+"/rotated", stored())
}

// With private addresses refused, a webhook URL whose host is a literal
// refused address is refused when saved, naming the field; a host name is
// left to the dial-time check; the allow list lets an address through.
func TestWebhookURLsToRefusedAddressesAreRefused(t *testing.T) {
	t.Parallel()
	strict, err := outbound.NewClient(outbound.Options{})
	require.NoError(t, err)
	a := newOncallAPIWith(t, api.Options{Outbound: strict})
	for url, reason := range map[string]string{
		"http://169.254.169.254/latest/meta-data/": "169.254.169.254, a link-local (cloud metadata) address",
		"http://127.0.0.1:9/hook":                  "127.0.0.1, a loopback address",
		"http://[::1]/hook":                        "::1, a loopback address",
		"http://10.0.0.8/hook":                     "10.0.0.8, a private address",
	} {
		ans := a.do(http.MethodPost, "/users", `{"name":"Bob","email":"bob@example.com","contact_methods":[
			{"type":"push","platform":"ios","token":"t"},{"type":"webhook","url":"`+url+`"}]}`)
		require.Equal(t, http.StatusBadRequest, ans.status, url)
		require.Equal(t, "contact_methods[1].url: points at "+reason+", which webhooks may not reach (outbound.allow lists exceptions)",
			ans.errorMessage())
	}
	require.Zero(t, a.rows(), "nothing was written")

	id := a.create("/users", `{"name":"Bob","email":"bob@example.com","contact_methods":[{"type":"webhook","url":"http://localhost:9/hook"}]}`)
	put := a.do(http.MethodPut, "/users/"+id, `{"name":"Bob","email":"bob@example.com","contact_methods":[{"type":"webhook","url":"http://127.0.0.1:9/hook"}]}`)
	require.Equal(t, http.StatusBadRequest, put.status)
	require.Contains(t, put.errorMessage(), "contact_methods[0].url: points at 127.0.0.1")

	allowing, err := outbound.NewClient(outbound.Options{Allow: []string{"127.0.0.1/32"}})
	require.NoError(t, err)
	b := newOncallAPIWith(t, api.Options{Outbound: allowing})
	b.create("/users", `{"name":"Cy","email":"cy@example.com","contact_methods":[{"type":"webhook","url":"http://127.0.0.1:9/hook"}]}`)
}
