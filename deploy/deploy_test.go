// Package deploy_test checks the shipped deployment files statically: no
// container engine or cluster runs where they are built, so a typo in a
// manifest, an env var the binary ignores or a probe on the wrong path would
// otherwise surface only in production.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/incident-server/incident-server/internal/config"
)

const (
	k8sDir          = "k8s/base"
	composePath     = "../docker-compose.yml"
	dockerfilePath  = "Dockerfile"
	dockerignore    = "../.dockerignore"
	prometheusPath  = "prometheus/prometheus.yml"
	cmdDir          = "../cmd/incident-server"
	namespace       = "incident-management"
	binaryPath      = "/usr/local/bin/incident-server"
	apiPort         = 8080
	nobody          = 65534
	composeImage    = "incident-server:local"
	secretExample   = "secret.example.yaml"
	kustomizationFn = "kustomization.yaml"
)

// runtimeEnv are variables read by the Go runtime, not by internal/config.
var runtimeEnv = map[string]bool{"GOGC": true, "GOMEMLIMIT": true, "GOMAXPROCS": true, "GODEBUG": true}

// ---------------------------------------------------------------- Kubernetes

func TestKubernetesManifestsParse(t *testing.T) {
	t.Parallel()
	files := k8sFiles(t)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			docs := readYAMLDocs(t, filepath.Join(k8sDir, file))
			require.NotEmpty(t, docs, "no YAML document")
			for i, doc := range docs {
				var h header
				require.NoError(t, doc.Decode(&h), "document %d", i)
				require.NotEmpty(t, h.APIVersion, "document %d: apiVersion", i)
				require.NotEmpty(t, h.Kind, "document %d: kind", i)
				if h.Kind == "Kustomization" {
					continue
				}
				require.NotEmpty(t, h.Metadata.Name, "document %d (%s): metadata.name", i, h.Kind)
				if h.Kind == "Namespace" {
					require.Equal(t, namespace, h.Metadata.Name)
					continue
				}
				require.Equal(t, namespace, h.Metadata.Namespace,
					"%s/%s: metadata.namespace, so `kubectl apply -f` lands where -k does", h.Kind, h.Metadata.Name)
			}
		})
	}
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	t.Parallel()
	var k struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
	}
	docs := readYAMLDocs(t, filepath.Join(k8sDir, kustomizationFn))
	require.Len(t, docs, 1)
	require.NoError(t, docs[0].Decode(&k))
	require.Equal(t, namespace, k.Namespace)

	var want []string
	for _, f := range k8sFiles(t) {
		// Examples hold placeholders; applying one would overwrite the real object.
		if f == kustomizationFn || strings.HasSuffix(f, ".example.yaml") {
			continue
		}
		want = append(want, f)
	}
	require.ElementsMatch(t, want, k.Resources)
	require.NotContains(t, k.Resources, secretExample)
}

func TestSecretExampleHoldsOnlyPlaceholders(t *testing.T) {
	t.Parallel()
	secrets := secretData(t)
	data, ok := secrets["incident-server-secrets"]
	require.True(t, ok, "secret incident-server-secrets in %s", secretExample)
	require.ElementsMatch(t, []string{"DATABASE_URL", "DATABASE_DIRECT_URL", "DATABASE_REPLICA_URL", "REDIS_PASSWORD", "JWT_SECRET", "SECRETS_KEYS"}, mapKeys(data))
	for k, v := range data {
		require.Contains(t, v, "CHANGE_ME", "%s must be an obvious placeholder", k)
	}
}

func TestAPIDeploymentFollowsTheGuide(t *testing.T) {
	t.Parallel()
	var d deployment
	decodeObject(t, "api-deployment.yaml", "Deployment", "incident-server", &d)

	require.Equal(t, 5, d.Spec.Replicas)
	require.Equal(t, "RollingUpdate", d.Spec.Strategy.Type)
	require.Equal(t, "25%", d.Spec.Strategy.RollingUpdate.MaxSurge)
	require.Equal(t, "25%", d.Spec.Strategy.RollingUpdate.MaxUnavailable)
	require.Equal(t, "incident-server", d.Spec.Selector.MatchLabels["app"])
	require.Equal(t, "incident-server", d.Spec.Template.Metadata.Labels["app"])

	aa := d.Spec.Template.Spec.Affinity.PodAntiAffinity
	require.Len(t, aa.Preferred, 1)
	term := aa.Preferred[0]
	require.Equal(t, 100, term.Weight)
	require.Equal(t, "kubernetes.io/hostname", term.PodAffinityTerm.TopologyKey)
	require.Equal(t, []matchExpression{{Key: "app", Operator: "In", Values: []string{"incident-server"}}},
		term.PodAffinityTerm.LabelSelector.MatchExpressions)

	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	c := d.Spec.Template.Spec.Containers[0]
	require.Equal(t, "incident-server", c.Name, "deploy scripts run `kubectl set image deployment/incident-server incident-server=…`")
	require.Contains(t, c.Ports, containerPort{Name: "http", ContainerPort: apiPort, Protocol: "TCP"})

	probes := []struct {
		name  string
		probe *probe
		want  probe
	}{
		{"liveness", c.LivenessProbe, probe{
			HTTPGet:             &httpGet{Path: "/health", Port: apiPort},
			InitialDelaySeconds: 30, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3,
		}},
		{"readiness", c.ReadinessProbe, probe{
			HTTPGet:             &httpGet{Path: "/health/ready", Port: apiPort},
			InitialDelaySeconds: 5, PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 3,
		}},
	}
	for _, tc := range probes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.NotNil(t, tc.probe)
			require.Equal(t, tc.want, *tc.probe)
		})
	}

	t.Run("resources", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, map[string]string{"memory": "512Mi", "cpu": "500m"}, c.Resources.Requests)
		require.Equal(t, map[string]string{"memory": "1Gi", "cpu": "1000m"}, c.Resources.Limits)
	})

	t.Run("go runtime", func(t *testing.T) {
		t.Parallel()
		env := literalEnv(c)
		require.Equal(t, "100", env["GOGC"])
		limit, err := parseBytes(c.Resources.Limits["memory"])
		require.NoError(t, err)
		soft, err := parseBytes(env["GOMEMLIMIT"])
		require.NoError(t, err, "GOMEMLIMIT")
		require.Positive(t, soft)
		require.Less(t, soft, limit, "GOMEMLIMIT must leave headroom under the container's memory limit")
	})
}

func TestWorkloadsRunAsNobody(t *testing.T) {
	t.Parallel()
	for _, w := range workloads() {
		t.Run(w.kind+"/"+w.name, func(t *testing.T) {
			t.Parallel()
			pod := w.pod(t)
			require.NotEmpty(t, pod.Spec.Containers)
			for _, c := range pod.Spec.Containers {
				sc := effectiveSecurityContext(pod.Spec.SecurityContext, c.SecurityContext)
				require.NotNil(t, sc.RunAsNonRoot, "%s: runAsNonRoot", c.Name)
				require.True(t, *sc.RunAsNonRoot, "%s: runAsNonRoot", c.Name)
				require.NotNil(t, sc.RunAsUser, "%s: runAsUser", c.Name)
				require.EqualValues(t, nobody, *sc.RunAsUser, "%s: runAsUser", c.Name)
				require.NotNil(t, sc.RunAsGroup, "%s: runAsGroup", c.Name)
				require.EqualValues(t, nobody, *sc.RunAsGroup, "%s: runAsGroup", c.Name)
				require.NotNil(t, sc.ReadOnlyRootFilesystem, "%s: readOnlyRootFilesystem", c.Name)
				require.True(t, *sc.ReadOnlyRootFilesystem, "%s: readOnlyRootFilesystem", c.Name)
				require.NotNil(t, sc.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation", c.Name)
				require.False(t, *sc.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation", c.Name)
				require.NotNil(t, sc.Capabilities, "%s: capabilities", c.Name)
				require.Equal(t, []string{"ALL"}, sc.Capabilities.Drop, "%s: capabilities.drop", c.Name)
				require.Empty(t, sc.Capabilities.Add, "%s: capabilities.add", c.Name)
				require.NotNil(t, sc.SeccompProfile, "%s: seccompProfile (restricted pod security)", c.Name)
				require.Equal(t, "RuntimeDefault", sc.SeccompProfile.Type)
				require.Empty(t, c.Command, "%s: the image's ENTRYPOINT is the binary; set args only", c.Name)
			}
		})
	}
}

func TestWorkloadsRunSubcommandsTheBinaryHas(t *testing.T) {
	t.Parallel()
	subcommands := binarySubcommands(t)
	services := composeServices(t)
	cases := []struct {
		name string
		args func(t *testing.T) []string
		want []string
	}{
		{"k8s api", func(t *testing.T) []string { return workloadByName(t, "incident-server").container(t).Args }, []string{"api"}},
		{"k8s worker", func(t *testing.T) []string { return workloadByName(t, "incident-server-worker").container(t).Args }, []string{"worker"}},
		{"k8s migrate", func(t *testing.T) []string { return workloadByName(t, "incident-server-migrate").container(t).Args }, []string{"migrate", "up"}},
		{"compose api", func(t *testing.T) []string { return services["api"].Command }, []string{"api"}},
		{"compose worker", func(t *testing.T) []string { return services["worker"].Command }, []string{"worker"}},
		{"compose migrate", func(t *testing.T) []string { return services["migrate"].Command }, []string{"migrate", "up"}},
		{"Dockerfile CMD", func(t *testing.T) []string { return parseDockerfile(t).final().jsonArgs(t, "CMD") }, []string{"api"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := tc.args(t)
			require.Equal(t, tc.want, args)
			require.Contains(t, subcommands, args[0])
		})
	}
}

func TestAPIServiceObjects(t *testing.T) {
	t.Parallel()
	api := workloadByName(t, "incident-server").pod(t).Metadata.Labels
	worker := workloadByName(t, "incident-server-worker").pod(t).Metadata.Labels

	t.Run("service", func(t *testing.T) {
		t.Parallel()
		var s struct {
			Spec struct {
				Selector map[string]string `yaml:"selector"`
				Ports    []struct {
					Name       string `yaml:"name"`
					Port       int    `yaml:"port"`
					TargetPort string `yaml:"targetPort"`
				} `yaml:"ports"`
			} `yaml:"spec"`
		}
		decodeObject(t, "service.yaml", "Service", "incident-server", &s)
		require.True(t, selects(s.Spec.Selector, api), "the Service must select the API pods")
		require.False(t, selects(s.Spec.Selector, worker), "the Service must not route to workers")
		require.Len(t, s.Spec.Ports, 1)
		require.Equal(t, "http", s.Spec.Ports[0].Name, "the guide's ServiceMonitor scrapes port http")
		require.Equal(t, apiPort, s.Spec.Ports[0].Port)
		require.Equal(t, "http", s.Spec.Ports[0].TargetPort)
	})

	t.Run("pdb", func(t *testing.T) {
		t.Parallel()
		var p struct {
			Spec struct {
				MinAvailable string `yaml:"minAvailable"`
				Selector     struct {
					MatchLabels map[string]string `yaml:"matchLabels"`
				} `yaml:"selector"`
			} `yaml:"spec"`
		}
		decodeObject(t, "pdb.yaml", "PodDisruptionBudget", "incident-server-pdb", &p)
		require.Equal(t, "60%", p.Spec.MinAvailable)
		require.True(t, selects(p.Spec.Selector.MatchLabels, api))
		require.False(t, selects(p.Spec.Selector.MatchLabels, worker))
	})

	t.Run("hpa", func(t *testing.T) {
		t.Parallel()
		var h struct {
			Spec struct {
				ScaleTargetRef struct {
					Kind string `yaml:"kind"`
					Name string `yaml:"name"`
				} `yaml:"scaleTargetRef"`
				MinReplicas int `yaml:"minReplicas"`
				MaxReplicas int `yaml:"maxReplicas"`
				Metrics     []struct {
					Type     string `yaml:"type"`
					External *struct {
						Metric struct {
							Name string `yaml:"name"`
						} `yaml:"metric"`
						Target struct {
							Type         string `yaml:"type"`
							AverageValue string `yaml:"averageValue"`
						} `yaml:"target"`
					} `yaml:"external"`
					Resource struct {
						Name   string `yaml:"name"`
						Target struct {
							Type               string `yaml:"type"`
							AverageUtilization int    `yaml:"averageUtilization"`
						} `yaml:"target"`
					} `yaml:"resource"`
				} `yaml:"metrics"`
			} `yaml:"spec"`
		}
		decodeObject(t, "hpa.yaml", "HorizontalPodAutoscaler", "incident-server-hpa", &h)
		require.Equal(t, "Deployment", h.Spec.ScaleTargetRef.Kind)
		require.Equal(t, "incident-server", h.Spec.ScaleTargetRef.Name)
		require.Equal(t, 5, h.Spec.MinReplicas)
		require.Equal(t, 20, h.Spec.MaxReplicas)
		got := map[string]int{}
		var external []string
		for _, m := range h.Spec.Metrics {
			if m.Type == "External" {
				require.Equal(t, "AverageValue", m.External.Target.Type)
				external = append(external, m.External.Metric.Name+"="+m.External.Target.AverageValue)
				continue
			}
			require.Equal(t, "Resource", m.Type)
			require.Equal(t, "Utilization", m.Resource.Target.Type)
			got[m.Resource.Name] = m.Resource.Target.AverageUtilization
		}
		require.Equal(t, map[string]int{"cpu": 70, "memory": 80}, got)
		require.Equal(t, []string{"active_incidents=10"}, external)
	})
}

func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	policies := map[string]networkPolicy{}
	for _, doc := range readYAMLDocs(t, filepath.Join(k8sDir, "networkpolicy.yaml")) {
		var p networkPolicy
		require.NoError(t, doc.Decode(&p))
		require.Equal(t, "NetworkPolicy", p.Kind)
		policies[p.Metadata.Name] = p
	}

	t.Run("deny all", func(t *testing.T) {
		t.Parallel()
		p, ok := policies["incident-management-deny-all"]
		require.True(t, ok)
		require.Empty(t, p.Spec.PodSelector.MatchLabels, "selects every pod")
		require.ElementsMatch(t, []string{"Ingress", "Egress"}, p.Spec.PolicyTypes)
		require.Empty(t, p.Spec.Ingress)
		require.Empty(t, p.Spec.Egress)
	})

	cases := []struct {
		policy      string
		app         string
		ingress     []string // "proto/port"
		egress      []string
		egressNotTo []string
	}{
		{
			policy:  "incident-server-network-policy",
			app:     "incident-server",
			ingress: []string{"TCP/8080"},
			egress:  []string{"TCP/5432", "TCP/6432", "TCP/6379", "TCP/7233", "TCP/443", "TCP/53", "UDP/53"},
		},
		{
			policy:  "incident-server-worker-network-policy",
			app:     "incident-server-worker",
			ingress: []string{"TCP/8080"}, // Prometheus
			egress:  []string{"TCP/5432", "TCP/6432", "TCP/6379", "TCP/7233", "TCP/8088", "TCP/443", "TCP/53", "UDP/53"},
		},
		{
			policy:      "incident-server-migrate-network-policy",
			app:         "incident-server-migrate",
			egress:      []string{"TCP/5432", "TCP/6432", "TCP/53", "UDP/53"},
			egressNotTo: []string{"TCP/7233", "TCP/443"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			p, ok := policies[tc.policy]
			require.True(t, ok)
			require.Equal(t, map[string]string{"app": tc.app}, p.Spec.PodSelector.MatchLabels)
			require.ElementsMatch(t, []string{"Ingress", "Egress"}, p.Spec.PolicyTypes)
			require.ElementsMatch(t, tc.ingress, uniquePorts(p.Spec.Ingress))
			egress := uniquePorts(p.Spec.Egress)
			require.Subset(t, egress, tc.egress)
			for _, port := range tc.egressNotTo {
				require.NotContains(t, egress, port)
			}
		})
	}

	// Every workload's pods are selected by an allow policy of their own.
	for _, w := range workloads() {
		labels := w.pod(t).Metadata.Labels
		var matched []string
		for name, p := range policies {
			if len(p.Spec.PodSelector.MatchLabels) > 0 && selects(p.Spec.PodSelector.MatchLabels, labels) {
				matched = append(matched, name)
			}
		}
		require.Len(t, matched, 1, "%s/%s pods", w.kind, w.name)
	}
}

// ---------------------------------------------------------------- environment

// TestWorkloadEnvIsUnderstoodByConfig loads each workload's configuration the
// way the binary does, from the image's ENV overlaid with the workload's own
// variables (and, in Kubernetes, the mounted ConfigMap), and requires every
// variable to be one that internal/config actually reads.
func TestWorkloadEnvIsUnderstoodByConfig(t *testing.T) {
	t.Parallel()
	imageEnv := parseDockerfile(t).final().env()
	services := composeServices(t)

	type source struct {
		name string
		api  bool
		// server is api or worker: they seal webhook URLs and refuse to
		// start outside development without secrets.keys.
		server  bool
		environ func(t *testing.T) map[string]string
	}
	var cases []source
	for _, w := range workloads() {
		cases = append(cases, source{
			name:    "k8s " + w.kind + "/" + w.name,
			api:     w.name == "incident-server",
			server:  w.kind == "Deployment",
			environ: func(t *testing.T) map[string]string { return k8sEnv(t, w) },
		})
	}
	for _, name := range []string{"migrate", "api", "worker"} {
		cases = append(cases, source{
			name:   "compose " + name,
			api:    name == "api",
			server: name != "migrate",
			environ: func(t *testing.T) map[string]string {
				svc, ok := services[name]
				require.True(t, ok, "compose service %s", name)
				require.Equal(t, composeImage, svc.Image)
				env := map[string]string{}
				for k, v := range svc.Environment {
					env[k] = interpolate(t, v)
				}
				return env
			},
		})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range imageEnv {
				env[k] = v
			}
			for k, v := range tc.environ(t) {
				env[k] = v
			}
			cfg, consulted, err := loadConfig(env)
			require.NoError(t, err)
			for name := range env {
				if runtimeEnv[name] {
					continue
				}
				require.True(t, consulted[name], "%s is not a variable internal/config reads", name)
			}
			require.NotEqual(t, config.Default().Database.URL, cfg.Database.URL, "the database URL must be set")
			require.True(t, cfg.Redis.Addr != config.Default().Redis.Addr || len(cfg.Redis.Addrs) > 0,
				"the Redis address (or cluster seeds) must be set")
			require.NotEqual(t, config.Default().Temporal.Address, cfg.Temporal.Address, "the Temporal address must be set")
			require.NotEqual(t, "development", cfg.Environment)
			require.False(t, cfg.OutboundAllowsPrivate(), "webhooks must not reach private addresses")
			require.Equal(t, "json", cfg.Logging.Format)
			if tc.server {
				require.NotEmpty(t, cfg.Secrets.Keys, "api and worker need secrets.keys outside development")
			}
			if tc.api {
				host, port, err := net.SplitHostPort(cfg.Server.Addr)
				require.NoError(t, err)
				require.Equal(t, strconv.Itoa(apiPort), port, "probes, Service and compose ports use %d", apiPort)
				if ip := net.ParseIP(host); ip != nil {
					require.False(t, ip.IsLoopback(), "server.addr %s is unreachable from outside the container", cfg.Server.Addr)
				}
			}
		})
	}
}

// TestUnknownIncidentVariableIsCaught pins the behaviour the check above
// relies on: internal/config ignores INCIDENT_ variables it has no field for
// (so a typo would pass silently), and the consulted set exposes them.
func TestUnknownIncidentVariableIsCaught(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		consulted bool
	}{
		{"INCIDENT_SERVER_ADDR", true},
		{"INCIDENT_REDIS_INCIDENT_CACHE_TTL", true},
		{"INCIDENT_CONFIG", true},
		{"DATABASE_URL", true},
		{"INCIDENT_SERVER_ADRESS", false},
		{"INCIDENT_PUSH_URL", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			value := "10m"
			switch tc.name {
			case "INCIDENT_SERVER_ADDR":
				value = "0.0.0.0:8080"
			case "INCIDENT_CONFIG":
				value = filepath.Join(t.TempDir(), "empty.yaml")
				require.NoError(t, os.WriteFile(value, nil, 0o600))
			case "DATABASE_URL":
				value = "postgres://u:p@db:5432/incidents"
			}
			_, consulted, err := loadConfig(map[string]string{tc.name: value})
			require.NoError(t, err, "config does not reject unknown variables")
			require.Equal(t, tc.consulted, consulted[tc.name])
		})
	}
}

// ---------------------------------------------------------------- compose

func TestComposeStack(t *testing.T) {
	t.Parallel()
	services := composeServices(t)
	require.Subset(t, mapKeys(services), []string{
		"postgres", "redis", "temporal", "temporal-ui", "gorush", "migrate", "api", "worker", "prometheus",
	})

	t.Run("published ports bind loopback", func(t *testing.T) {
		t.Parallel()
		published := 0
		for name, svc := range services {
			for _, p := range svc.Ports {
				published++
				require.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s publishes %q beyond loopback", name, p)
				require.Len(t, strings.Split(p, ":"), 3, "%s: %q is not host_ip:host_port:container_port", name, p)
			}
		}
		require.Positive(t, published)
	})

	ports := []struct {
		service string
		port    string
	}{
		{"api", "127.0.0.1:8080:8080"},
		{"temporal", "127.0.0.1:7233:7233"},
		{"temporal-ui", "127.0.0.1:8233:8080"},
		{"gorush", "127.0.0.1:8088:8088"},
		{"prometheus", "127.0.0.1:9090:9090"},
	}
	for _, tc := range ports {
		t.Run("port "+tc.service, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, services[tc.service].Ports, tc.port)
		})
	}

	deps := []struct {
		service, on, condition string
	}{
		{"migrate", "postgres", "service_healthy"},
		{"temporal", "postgres", "service_healthy"},
		{"api", "migrate", "service_completed_successfully"},
		{"api", "temporal", "service_healthy"},
		{"worker", "migrate", "service_completed_successfully"},
		{"worker", "temporal", "service_healthy"},
		{"temporal-ui", "temporal", "service_healthy"},
	}
	for _, tc := range deps {
		t.Run(tc.service+" after "+tc.on, func(t *testing.T) {
			t.Parallel()
			dep, ok := services[tc.service].DependsOn[tc.on]
			require.True(t, ok)
			require.Equal(t, tc.condition, dep.Condition)
			if tc.condition == "service_healthy" {
				hc := services[tc.on].Healthcheck
				require.NotNil(t, hc, "%s waits for %s to be healthy, which has no healthcheck", tc.service, tc.on)
				require.False(t, hc.Disable)
				require.NotEmpty(t, hc.Test)
			}
		})
	}

	t.Run("images", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, "postgres:15", services["postgres"].Image)
		require.Equal(t, "redis:7-alpine", services["redis"].Image)
		require.True(t, strings.HasPrefix(services["temporal"].Image, "temporalio/auto-setup:"))
		require.True(t, strings.HasPrefix(services["temporal-ui"].Image, "temporalio/ui:"))
		require.True(t, strings.HasPrefix(services["gorush"].Image, "appleboy/gorush:"))
		require.True(t, strings.HasPrefix(services["prometheus"].Image, "prom/prometheus:"))
		for _, name := range []string{"migrate", "api", "worker"} {
			require.Equal(t, composeImage, services[name].Image, name)
			require.Equal(t, composeBuild{Context: ".", Dockerfile: "deploy/Dockerfile"}, services[name].Build, name)
		}
		require.Equal(t, "no", services["migrate"].Restart, "migrate is one-shot")
	})

	t.Run("temporal shares postgres", func(t *testing.T) {
		t.Parallel()
		env := services["temporal"].Environment
		require.Equal(t, "postgres12", env["DB"])
		require.Equal(t, "postgres", env["POSTGRES_SEEDS"])
		require.Equal(t, interpolate(t, services["postgres"].Environment["POSTGRES_USER"]), interpolate(t, env["POSTGRES_USER"]))
		require.Equal(t, interpolate(t, services["postgres"].Environment["POSTGRES_PASSWORD"]), interpolate(t, env["POSTGRES_PWD"]))
		require.Equal(t, "temporal:7233", services["temporal-ui"].Environment["TEMPORAL_ADDRESS"])
		require.Equal(t, "temporal:7233", interpolate(t, services["api"].Environment["TEMPORAL_ADDRESS"]))
	})

	t.Run("every variable has a default", func(t *testing.T) {
		t.Parallel()
		raw, err := os.ReadFile(composePath)
		require.NoError(t, err)
		refs := composeVarRef.FindAllStringSubmatch(string(raw), -1)
		require.NotEmpty(t, refs)
		for _, m := range refs {
			require.Contains(t, []string{":-", "-"}, m[2], "%s has no default; `docker compose up` would need an .env", m[0])
		}
	})

	t.Run("every dependency is a service", func(t *testing.T) {
		t.Parallel()
		for name, svc := range services {
			for dep, d := range svc.DependsOn {
				require.Contains(t, mapKeys(services), dep, "%s depends on %s", name, dep)
				require.Contains(t, []string{"service_started", "service_healthy", "service_completed_successfully"}, d.Condition,
					"%s depends on %s", name, dep)
			}
		}
	})

	t.Run("images are pinned", func(t *testing.T) {
		t.Parallel()
		for name, svc := range services {
			ref := svc.Image
			require.NotEmpty(t, ref, "%s has no image", name)
			if i := strings.LastIndex(ref, "/"); i >= 0 {
				ref = ref[i+1:]
			}
			_, tag, ok := strings.Cut(ref, ":")
			require.True(t, ok, "%s: image %s has no tag", name, svc.Image)
			require.NotEqual(t, "latest", tag, "%s: image %s", name, svc.Image)
		}
	})

	t.Run("read-only root filesystem", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"migrate", "api", "worker"} {
			require.True(t, services[name].ReadOnly, "%s: read_only, as the pods run", name)
			require.Contains(t, services[name].Tmpfs, "/tmp:size=64m", name)
		}
	})

	t.Run("worker pushes through the gorush service", func(t *testing.T) {
		t.Parallel()
		env := services["worker"].Environment
		require.Equal(t, "http://gorush:8088", env["GORUSH_URL"])
		require.Contains(t, services["gorush"].Ports, "127.0.0.1:8088:8088")
	})

	t.Run("prometheus config mounted", func(t *testing.T) {
		t.Parallel()
		require.Contains(t, services["prometheus"].Volumes, "./deploy/prometheus:/etc/prometheus:ro")
	})
}

func TestPrometheusScrapesComposeServices(t *testing.T) {
	t.Parallel()
	var p struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	docs := readYAMLDocs(t, prometheusPath)
	require.Len(t, docs, 1)
	require.NoError(t, docs[0].Decode(&p))
	services := composeServices(t)

	jobs := map[string][]string{}
	for _, sc := range p.ScrapeConfigs {
		for _, s := range sc.StaticConfigs {
			for _, target := range s.Targets {
				host, _, err := net.SplitHostPort(target)
				require.NoError(t, err, "job %s target %q", sc.JobName, target)
				require.Contains(t, mapKeys(services), host, "job %s scrapes a host that is no compose service", sc.JobName)
				jobs[sc.JobName] = append(jobs[sc.JobName], target)
			}
		}
		if sc.JobName == "incident-server-metrics" {
			require.Equal(t, "/metrics", sc.MetricsPath)
		}
	}
	// The guide's alert rules select up{job="incident-server-metrics"}: the
	// API and the worker, which counts incidents, breaches and deliveries.
	require.Equal(t, []string{"api:8080", "worker:8080"}, jobs["incident-server-metrics"])
}

// ---------------------------------------------------------------- Dockerfile

func TestDockerfile(t *testing.T) {
	t.Parallel()
	df := parseDockerfile(t)
	subcommands := binarySubcommands(t)
	require.Len(t, df.stages, 2, "a build stage and a runtime stage")
	build, final := df.stages[0], df.final()

	cases := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"build stage", func(t *testing.T) {
			require.Equal(t, []string{"golang:1.26", "AS", "build"}, strings.Fields(build.from))
			download := build.index(t, "RUN", "go mod download")
			copyAll := build.index(t, "COPY", ". .")
			require.Less(t, build.index(t, "COPY", "go.mod go.sum"), download)
			require.Less(t, download, copyAll, "modules are downloaded before the source is copied, so their layer survives code edits")
			goBuild := build.instructions[build.index(t, "RUN", "go build")].args
			require.Contains(t, goBuild, "-trimpath")
			require.Contains(t, goBuild, `-ldflags "-s -w"`)
			require.Contains(t, goBuild, "./cmd/incident-server")
			require.Equal(t, "0", build.env()["CGO_ENABLED"])
		}},
		{"runtime base", func(t *testing.T) {
			require.Equal(t, "gcr.io/distroless/static-debian12:nonroot", final.from)
			i := final.index(t, "COPY", binaryPath)
			require.True(t, strings.HasPrefix(final.instructions[i].args, "--from=build "))
		}},
		{"non-root user", func(t *testing.T) {
			user := final.instructions[final.index(t, "USER", "")].args
			uid, _, _ := strings.Cut(user, ":")
			require.Equal(t, strconv.Itoa(nobody), uid, "the uid the Kubernetes securityContext runs as")
		}},
		{"entrypoint", func(t *testing.T) {
			require.Equal(t, []string{binaryPath}, final.jsonArgs(t, "ENTRYPOINT"))
			cmd := final.jsonArgs(t, "CMD")
			require.Equal(t, []string{"api"}, cmd)
			require.Contains(t, subcommands, cmd[0])
		}},
		{"expose", func(t *testing.T) {
			require.Equal(t, strconv.Itoa(apiPort), final.instructions[final.index(t, "EXPOSE", "")].args)
			_, port, err := net.SplitHostPort(final.env()["INCIDENT_SERVER_ADDR"])
			require.NoError(t, err)
			require.Equal(t, strconv.Itoa(apiPort), port)
		}},
		{"healthcheck", func(t *testing.T) {
			hc := final.instructions[final.index(t, "HEALTHCHECK", "")].args
			_, cmd, ok := strings.Cut(hc, "CMD ")
			require.True(t, ok, "HEALTHCHECK %s", hc)
			var argv []string
			require.NoError(t, json.Unmarshal([]byte(cmd), &argv), "exec form: distroless has no shell")
			require.GreaterOrEqual(t, len(argv), 2)
			require.Equal(t, binaryPath, argv[0])
			require.Equal(t, "health", argv[1])
			require.Contains(t, subcommands, argv[1])
			require.Contains(t, argv, fmt.Sprintf("http://127.0.0.1:%d", apiPort))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t)
		})
	}
}

func TestDockerignore(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(dockerignore)
	require.NoError(t, err)
	var patterns []string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	for _, want := range []string{".git", ".data", "bin", "**/*.test"} {
		require.Contains(t, patterns, want)
	}
}

// ---------------------------------------------------------------- helpers

type header struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
}

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type deployment struct {
	Spec struct {
		Replicas int `yaml:"replicas"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxSurge       string `yaml:"maxSurge"`
				MaxUnavailable string `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

type job struct {
	Spec struct {
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

type podTemplate struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		SecurityContext *securityContext `yaml:"securityContext"`
		Containers      []container      `yaml:"containers"`
		Volumes         []struct {
			Name      string `yaml:"name"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
		} `yaml:"volumes"`
		Affinity struct {
			PodAntiAffinity struct {
				Preferred []struct {
					Weight          int `yaml:"weight"`
					PodAffinityTerm struct {
						LabelSelector struct {
							MatchExpressions []matchExpression `yaml:"matchExpressions"`
						} `yaml:"labelSelector"`
						TopologyKey string `yaml:"topologyKey"`
					} `yaml:"podAffinityTerm"`
				} `yaml:"preferredDuringSchedulingIgnoredDuringExecution"`
			} `yaml:"podAntiAffinity"`
		} `yaml:"affinity"`
	} `yaml:"spec"`
}

type matchExpression struct {
	Key      string   `yaml:"key"`
	Operator string   `yaml:"operator"`
	Values   []string `yaml:"values"`
}

type container struct {
	Name           string          `yaml:"name"`
	Command        []string        `yaml:"command"`
	Args           []string        `yaml:"args"`
	Ports          []containerPort `yaml:"ports"`
	Env            []envVar        `yaml:"env"`
	LivenessProbe  *probe          `yaml:"livenessProbe"`
	ReadinessProbe *probe          `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
	} `yaml:"valueFrom"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type probe struct {
	HTTPGet             *httpGet `yaml:"httpGet"`
	InitialDelaySeconds int      `yaml:"initialDelaySeconds"`
	PeriodSeconds       int      `yaml:"periodSeconds"`
	TimeoutSeconds      int      `yaml:"timeoutSeconds"`
	FailureThreshold    int      `yaml:"failureThreshold"`
}

type httpGet struct {
	Path string `yaml:"path"`
	Port int    `yaml:"port"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	RunAsGroup               *int64 `yaml:"runAsGroup"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
		Add  []string `yaml:"add"`
	} `yaml:"capabilities"`
	SeccompProfile *struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type networkPolicy struct {
	header `yaml:",inline"`
	Spec   struct {
		PodSelector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"podSelector"`
		PolicyTypes []string     `yaml:"policyTypes"`
		Ingress     []policyRule `yaml:"ingress"`
		Egress      []policyRule `yaml:"egress"`
	} `yaml:"spec"`
}

type policyRule struct {
	Ports []struct {
		Protocol string `yaml:"protocol"`
		Port     int    `yaml:"port"`
	} `yaml:"ports"`
}

// uniquePorts lists the "proto/port" pairs the rules open.
func uniquePorts(rules []policyRule) []string {
	var out []string
	for _, r := range rules {
		for _, p := range r.Ports {
			s := fmt.Sprintf("%s/%d", p.Protocol, p.Port)
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// workload is a Kubernetes object that runs the incident-server image.
type workload struct {
	file, kind, name string
}

func workloads() []workload {
	return []workload{
		{"api-deployment.yaml", "Deployment", "incident-server"},
		{"worker-deployment.yaml", "Deployment", "incident-server-worker"},
		{"migrate-job.yaml", "Job", "incident-server-migrate"},
	}
}

func workloadByName(t *testing.T, name string) workload {
	t.Helper()
	for _, w := range workloads() {
		if w.name == name {
			return w
		}
	}
	t.Fatalf("no workload %s", name)
	return workload{}
}

func (w workload) pod(t *testing.T) podTemplate {
	t.Helper()
	switch w.kind {
	case "Deployment":
		var d deployment
		decodeObject(t, w.file, w.kind, w.name, &d)
		return d.Spec.Template
	case "Job":
		var j job
		decodeObject(t, w.file, w.kind, w.name, &j)
		return j.Spec.Template
	}
	t.Fatalf("unknown workload kind %s", w.kind)
	return podTemplate{}
}

func (w workload) container(t *testing.T) container {
	t.Helper()
	cs := w.pod(t).Spec.Containers
	require.Len(t, cs, 1, "%s/%s", w.kind, w.name)
	return cs[0]
}

func effectiveSecurityContext(pod, c *securityContext) securityContext {
	var out securityContext
	for _, sc := range []*securityContext{pod, c} {
		if sc == nil {
			continue
		}
		if sc.RunAsNonRoot != nil {
			out.RunAsNonRoot = sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			out.RunAsUser = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			out.RunAsGroup = sc.RunAsGroup
		}
		if sc.SeccompProfile != nil {
			out.SeccompProfile = sc.SeccompProfile
		}
		// The rest exist on the container only.
		if sc == c {
			out.AllowPrivilegeEscalation = sc.AllowPrivilegeEscalation
			out.ReadOnlyRootFilesystem = sc.ReadOnlyRootFilesystem
			out.Capabilities = sc.Capabilities
		}
	}
	return out
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func literalEnv(c container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// k8sEnv resolves a workload's environment: secrets from the example Secret,
// and INCIDENT_CONFIG to a copy of the ConfigMap key mounted at that path.
func k8sEnv(t *testing.T, w workload) map[string]string {
	t.Helper()
	pod := w.pod(t)
	c := w.container(t)
	secrets := secretData(t)
	configMaps := configMapData(t)
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secrets[ref.Name][ref.Key]
			require.True(t, ok, "%s: secret %s has no key %s", e.Name, ref.Name, ref.Key)
			env[e.Name] = v
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v, ok := configMaps[ref.Name][ref.Key]
			require.True(t, ok, "%s: configmap %s has no key %s", e.Name, ref.Name, ref.Key)
			env[e.Name] = v
		default:
			t.Fatalf("%s: unsupported valueFrom", e.Name)
		}
	}

	file, ok := env[config.PathEnv]
	require.True(t, ok, "%s/%s sets no %s", w.kind, w.name, config.PathEnv)
	dir, key := path.Split(file)
	dir = strings.TrimSuffix(dir, "/")
	var volume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir && m.SubPath == "" {
			volume = m.Name
		}
	}
	require.NotEmpty(t, volume, "nothing is mounted at %s", dir)
	var configMap string
	for _, v := range pod.Spec.Volumes {
		if v.Name == volume && v.ConfigMap != nil {
			configMap = v.ConfigMap.Name
		}
	}
	require.NotEmpty(t, configMap, "volume %s is not a ConfigMap", volume)
	content, ok := configMaps[configMap][key]
	require.True(t, ok, "configmap %s has no key %s", configMap, key)
	local := filepath.Join(t.TempDir(), key)
	require.NoError(t, os.WriteFile(local, []byte(content), 0o600))
	env[config.PathEnv] = local
	return env
}

func secretData(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, doc := range readYAMLDocs(t, filepath.Join(k8sDir, secretExample)) {
		var s struct {
			header     `yaml:",inline"`
			StringData map[string]string `yaml:"stringData"`
		}
		require.NoError(t, doc.Decode(&s))
		require.Equal(t, "Secret", s.Kind)
		out[s.Metadata.Name] = s.StringData
	}
	return out
}

func configMapData(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, doc := range readYAMLDocs(t, filepath.Join(k8sDir, "configmap.yaml")) {
		var c struct {
			header `yaml:",inline"`
			Data   map[string]string `yaml:"data"`
		}
		require.NoError(t, doc.Decode(&c))
		require.Equal(t, "ConfigMap", c.Kind)
		out[c.Metadata.Name] = c.Data
	}
	return out
}

// loadConfig runs the binary's loader on env and reports which variables it
// looked up.
func loadConfig(env map[string]string) (config.Config, map[string]bool, error) {
	var mu sync.Mutex
	consulted := map[string]bool{}
	cfg, err := config.LoadFrom("", func(name string) (string, bool) {
		mu.Lock()
		consulted[name] = true
		mu.Unlock()
		v, ok := env[name]
		return v, ok
	})
	return cfg, consulted, err
}

func k8sFiles(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	require.NoError(t, err)
	var out []string
	for _, m := range matches {
		out = append(out, filepath.Base(m))
	}
	others, err := filepath.Glob(filepath.Join(k8sDir, "*.yml"))
	require.NoError(t, err)
	require.Empty(t, others, "use the .yaml extension, which the kustomization check covers")
	return out
}

func readYAMLDocs(t *testing.T, file string) []*yaml.Node {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "%s: document %d", file, len(docs))
		if len(n.Content) == 0 || n.Content[0].Tag == "!!null" {
			continue
		}
		docs = append(docs, &n)
	}
	return docs
}

// decodeObject decodes the one object of kind and name in file into out.
func decodeObject(t *testing.T, file, kind, name string, out any) {
	t.Helper()
	found := 0
	for _, doc := range readYAMLDocs(t, filepath.Join(k8sDir, file)) {
		var h header
		require.NoError(t, doc.Decode(&h))
		if h.Kind == kind && h.Metadata.Name == name {
			require.NoError(t, doc.Decode(out))
			found++
		}
	}
	require.Equal(t, 1, found, "%s/%s in %s", kind, name, file)
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// parseBytes reads a Kubernetes quantity (512Mi, 1Gi) or a GOMEMLIMIT value
// (900MiB, 1073741824).
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		factor int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"B", 1},
	}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * u.factor, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// ---------------------------------------------------------------- compose helpers

type composeService struct {
	Image       string                       `yaml:"image"`
	ReadOnly    bool                         `yaml:"read_only"`
	Tmpfs       []string                     `yaml:"tmpfs"`
	Build       composeBuild                 `yaml:"build"`
	Command     []string                     `yaml:"command"`
	Restart     string                       `yaml:"restart"`
	Environment map[string]string            `yaml:"environment"`
	Ports       []string                     `yaml:"ports"`
	Volumes     []string                     `yaml:"volumes"`
	DependsOn   map[string]composeDependency `yaml:"depends_on"`
	Healthcheck *struct {
		Test    []string `yaml:"test"`
		Disable bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

func composeServices(t *testing.T) map[string]composeService {
	t.Helper()
	docs := readYAMLDocs(t, composePath)
	require.Len(t, docs, 1)
	var f struct {
		Services map[string]composeService `yaml:"services"`
	}
	require.NoError(t, docs[0].Decode(&f), "environment and depends_on use the map form; ports the short string form")
	require.NotEmpty(t, f.Services)
	return f.Services
}

// composeVarRef matches ${NAME}, ${NAME:-default}, ${NAME-default},
// ${NAME:?error} and ${NAME?error}.
var composeVarRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?([^}]*)\}`)

// interpolate resolves compose variables to their defaults, as `docker
// compose up` does with an empty environment.
func interpolate(t *testing.T, s string) string {
	t.Helper()
	return composeVarRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := composeVarRef.FindStringSubmatch(ref)
		require.Contains(t, []string{":-", "-"}, m[2], "%s has no default", ref)
		return m[3]
	})
}

// ---------------------------------------------------------------- Dockerfile helpers

type dockerfile struct {
	stages []stage
}

type stage struct {
	from         string
	instructions []instruction
}

type instruction struct {
	keyword string
	args    string
}

func (d dockerfile) final() stage { return d.stages[len(d.stages)-1] }

// index returns the position of the first keyword instruction whose
// arguments contain substr.
func (s stage) index(t *testing.T, keyword, substr string) int {
	t.Helper()
	for i, in := range s.instructions {
		if in.keyword == keyword && strings.Contains(in.args, substr) {
			return i
		}
	}
	t.Fatalf("stage FROM %s has no %s %q", s.from, keyword, substr)
	return -1
}

func (s stage) jsonArgs(t *testing.T, keyword string) []string {
	t.Helper()
	var argv []string
	in := s.instructions[s.index(t, keyword, "")]
	require.NoError(t, json.Unmarshal([]byte(in.args), &argv), "%s must use the exec form: distroless has no shell", keyword)
	return argv
}

// env collects the stage's ENV key=value pairs.
func (s stage) env() map[string]string {
	env := map[string]string{}
	for _, in := range s.instructions {
		if in.keyword != "ENV" {
			continue
		}
		for _, kv := range strings.Fields(in.args) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = strings.Trim(v, `"`)
			}
		}
	}
	return env
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	raw, err := os.ReadFile(dockerfilePath)
	require.NoError(t, err)
	var d dockerfile
	var pending string
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && pending == "") {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			pending += cont + " "
			continue
		}
		full := strings.Join(strings.Fields(pending+trimmed), " ")
		pending = ""
		if full == "" {
			continue
		}
		keyword, args, _ := strings.Cut(full, " ")
		keyword = strings.ToUpper(keyword)
		if keyword == "FROM" {
			d.stages = append(d.stages, stage{from: args})
			continue
		}
		require.NotEmpty(t, d.stages, "%s before FROM", keyword)
		last := &d.stages[len(d.stages)-1]
		last.instructions = append(last.instructions, instruction{keyword: keyword, args: args})
	}
	require.Empty(t, pending, "Dockerfile ends in a line continuation")
	require.NotEmpty(t, d.stages)
	return d
}

// binarySubcommands reads the command names from cmd/incident-server's
// commands() table, so a renamed subcommand fails here rather than in a pod.
func binarySubcommands(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	var names []string
	for _, file := range commandFiles(t) {
		f, err := parser.ParseFile(fset, file, nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || (fn.Name.Name != "Commands" && fn.Name.Name != "embedded") {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				ret, ok := n.(*ast.ReturnStmt)
				if !ok || len(ret.Results) != 1 {
					return true
				}
				table, ok := ret.Results[0].(*ast.CompositeLit)
				if !ok {
					return true
				}
				for _, elt := range table.Elts {
					row, ok := elt.(*ast.CompositeLit)
					if !ok || len(row.Elts) == 0 {
						continue
					}
					first := row.Elts[0]
					if kv, ok := first.(*ast.KeyValueExpr); ok {
						first = kv.Value
					}
					lit, ok := first.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					name, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					names = append(names, name)
				}
				return false
			})
		}
	}
	require.NotEmpty(t, names, "no Commands() table found in %s or %s", cmdDir, cliDir)
	return names
}

// cliDir holds the command table every build has (cli.Commands); cmdDir's
// embedded() adds the commands of builds with the embedded server.
const cliDir = "../internal/cli"

// commandFiles lists the Go files (not tests) that hold command tables.
func commandFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{cliDir, cmdDir} {
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	return files
}
