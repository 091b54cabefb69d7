package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// openAPIDoc is the API's document, the one description of what the
// engine takes and answers.
const openAPIDoc = "../../../api/openapi.yaml"

func loadDoc(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(openAPIDoc)
	if err != nil {
		t.Fatalf("load %s: %v", openAPIDoc, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("validate %s: %v", openAPIDoc, err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("route %s: %v", openAPIDoc, err)
	}
	return doc, router
}

// The load generator keeps its own copies of the API's shapes, cut down to
// what it sends and reads. Every request body it sends is valid for its
// operation, and every field it reads from an answer is one the answer
// has, so a field renamed in the API and its document fails here rather
// than in a run that reads zeros.
func TestShapesMatchTheOpenAPIDocument(t *testing.T) {
	doc, router := loadDoc(t)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	bearer := "Bearer a.b.c"
	ik := "Bearer ik_abc.def"

	requests := []struct {
		method, path, auth string
		body               any
	}{
		{"POST", "/api/v1/users", bearer, user{Name: "Bench", Email: "bench@example.com",
			ContactMethods: []contactMethod{{Type: "push", Platform: "ios", Token: "tok"}}}},
		{"POST", "/api/v1/escalation-policies", bearer, policy{Name: "bench", Repeat: 1,
			Steps: []policyStep{{Delay: "1m", Targets: []target{{Type: "user", ID: "usr_1"}}}}}},
		{"POST", "/api/v1/services", bearer, service{ID: "bench-svc", Name: "bench", EscalationPolicyID: "pol_1"}},
		{"POST", "/api/v1/sla-policies", bearer, benchSLA("low", "bench-svc")},
		{"POST", "/api/v1/services/bench-svc/integration-keys", bearer, keyRequest{Name: "incident-bench"}},
		{"POST", "/api/v1/heartbeat-monitors", bearer, monitorRequest{ServiceID: "bench-svc", Name: "bench", Interval: (30 * time.Second).String()}},
		{"POST", "/api/v1/incidents", bearer, newIncident{Title: "bench", Service: "bench-svc", Severity: "critical"}},
		{"POST", "/api/v1/incidents/inc_1/acknowledge", bearer, command{Actor: "bench"}},
		{"POST", "/api/v1/incidents/inc_1/resolve", bearer, command{Actor: "bench"}},
		{"POST", "/api/v1/integrations/alertmanager", ik, amPayload{Version: "4", GroupKey: "g", Status: "firing", Receiver: "bench",
			GroupLabels: map[string]string{"alertname": "Load"},
			Alerts:      []amAlertOut{{Status: "firing", Labels: map[string]string{"alertname": "Load"}, StartsAt: at.Format(time.RFC3339), Fingerprint: "fp"}}}},
		{"POST", "/api/v1/heartbeats/hb_1", ik, nil},
		{"GET", "/api/v1/incidents?service=bench-svc&limit=200&cursor=c", bearer, nil},
		{"GET", "/api/v1/incidents/inc_1", bearer, nil},
		{"GET", "/api/v1/incidents/inc_1/notifications", bearer, nil},
		{"GET", "/api/v1/incidents/inc_1/timeline", bearer, nil},
		{"DELETE", "/api/v1/heartbeat-monitors/hb_1", bearer, nil},
		{"GET", "/health/ready", "", nil},
	}
	opts := &openapi3filter.Options{
		RejectWhenRequestBodyNotSpecified: true,
		// The bench sends the credential it is given; its form is the
		// server's to judge.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	}
	for _, r := range requests {
		var raw []byte
		if r.body != nil {
			var err error
			if raw, err = json.Marshal(r.body); err != nil {
				t.Fatal(err)
			}
		}
		req := httptest.NewRequest(r.method, r.path, bytes.NewReader(raw))
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if r.auth != "" {
			req.Header.Set("Authorization", r.auth)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: not an operation of the document: %v", r.method, r.path, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: the request the bench sends does not match the document: %v", r.method, r.path, err)
		}
	}

	answers := []struct {
		method, path, status string
		decoded              any
	}{
		{"POST", "/api/v1/users", "201", user{}},
		{"POST", "/api/v1/escalation-policies", "201", policy{}},
		{"POST", "/api/v1/sla-policies", "201", created{}},
		{"POST", "/api/v1/services/{id}/integration-keys", "201", createdKey{}},
		{"POST", "/api/v1/heartbeat-monitors", "201", created{}},
		{"POST", "/api/v1/incidents", "201", incident{}},
		{"GET", "/api/v1/incidents", "200", incidentList{}},
		{"GET", "/api/v1/incidents/{id}", "200", incidentView{}},
		{"GET", "/api/v1/incidents/{id}/notifications", "200", notificationList{}},
		{"GET", "/api/v1/incidents/{id}/timeline", "200", timeline{}},
		{"GET", "/health/ready", "200", readiness{}},
		{"GET", "/health/ready", "503", notReady{}},
		{"POST", "/api/v1/incidents", "503", errorBody{}},
	}
	for _, a := range answers {
		where := a.method + " " + a.path + " " + a.status
		item := doc.Paths.Value(a.path)
		if item == nil || item.GetOperation(a.method) == nil {
			t.Errorf("%s: not an operation of the document", where)
			continue
		}
		resp := item.GetOperation(a.method).Responses.Value(a.status)
		if resp == nil || resp.Value.Content.Get("application/json") == nil {
			t.Errorf("%s: the document has no JSON answer", where)
			continue
		}
		for _, p := range fieldProblems(where, reflect.TypeOf(a.decoded), resp.Value.Content.Get("application/json").Schema) {
			t.Error(p)
		}
	}
}

// fieldProblems lists every JSON field of Go type typ that is not a
// property of schema, recursively through structs, slices and pointers.
func fieldProblems(where string, typ reflect.Type, schema *openapi3.SchemaRef) []string {
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		if typ.Kind() == reflect.Slice {
			s := anyOf(schema, func(s *openapi3.Schema) *openapi3.SchemaRef { return s.Items })
			if s == nil {
				return []string{where + ": the bench reads a list the document does not describe as one"}
			}
			schema = s
		}
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Time]() {
		return nil
	}
	var problems []string
	for f := range typ.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			// encoding/json reads an embedded struct's fields as the
			// outer one's.
			problems = append(problems, fieldProblems(where, f.Type, schema)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		prop := anyOf(schema, func(s *openapi3.Schema) *openapi3.SchemaRef { return s.Properties[name] })
		if prop == nil {
			problems = append(problems, fmt.Sprintf("%s: the bench reads %q, which the document's answer does not have (it has %s)",
				where, name, strings.Join(propertyNames(schema), ", ")))
			continue
		}
		problems = append(problems, fieldProblems(where+"."+name, f.Type, prop)...)
	}
	return problems
}

// anyOf applies get to schema and to the schemas it is composed of
// (allOf, oneOf, anyOf), returning the first non-nil answer.
func anyOf(schema *openapi3.SchemaRef, get func(*openapi3.Schema) *openapi3.SchemaRef) *openapi3.SchemaRef {
	if schema == nil || schema.Value == nil {
		return nil
	}
	if r := get(schema.Value); r != nil {
		return r
	}
	for _, list := range []openapi3.SchemaRefs{schema.Value.AllOf, schema.Value.OneOf, schema.Value.AnyOf} {
		for _, s := range list {
			if r := anyOf(s, get); r != nil {
				return r
			}
		}
	}
	return nil
}

func propertyNames(schema *openapi3.SchemaRef) []string {
	var names []string
	var walk func(*openapi3.SchemaRef)
	walk = func(s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil {
			return
		}
		for n := range s.Value.Properties {
			names = append(names, n)
		}
		for _, list := range []openapi3.SchemaRefs{s.Value.AllOf, s.Value.OneOf, s.Value.AnyOf} {
			for _, c := range list {
				walk(c)
			}
		}
	}
	walk(schema)
	slices.Sort(names)
	return names
}

// The check catches what it is for: a field the bench reads that the
// answer does not have.
func TestFieldCheckCatchesARenamedField(t *testing.T) {
	doc, _ := loadDoc(t)
	schema := doc.Paths.Value("/api/v1/incidents/{id}").Get.Responses.Value("200").Value.Content.Get("application/json").Schema
	type renamed struct {
		ID     string `json:"id"`
		Status string `json:"state"`
	}
	problems := fieldProblems("GET /api/v1/incidents/{id}", reflect.TypeFor[renamed](), schema)
	if len(problems) != 1 || !strings.Contains(problems[0], `"state"`) {
		t.Fatalf("want one problem naming state, got %q", problems)
	}
	if p := fieldProblems("GET /api/v1/incidents/{id}", reflect.TypeFor[incidentView](), schema); len(p) != 0 {
		t.Fatalf("the bench's incident view: %q", p)
	}
}
