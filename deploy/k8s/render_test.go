package k8s_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	namespace = "incident-management"
	nobody    = 65534
	apiPort   = 8080
	cmdDir    = "../../cmd/incident-server"
)

// kustomizations are the directories `kubectl apply -k` is pointed at.
var kustomizations = []string{"base", "overlays/production"}

// rendered is one kustomization's output, each object decoded strictly into
// its API type.
type rendered struct {
	deployments     map[string]*appsv1.Deployment
	jobs            map[string]*batchv1.Job
	cronJobs        map[string]*batchv1.CronJob
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	namespaces      map[string]*corev1.Namespace
	ingresses       map[string]*networkingv1.Ingress
	networkPolicies map[string]*networkingv1.NetworkPolicy
	pdbs            map[string]*policyv1.PodDisruptionBudget
	hpas            map[string]*autoscalingv2.HorizontalPodAutoscaler
	serviceMonitors map[string]*monitoringv1.ServiceMonitor
	prometheusRules map[string]*monitoringv1.PrometheusRule
}

// decoder pairs a kind with its apiVersion and a strict decoder.
type decoder struct {
	apiVersion string
	decode     func(r *rendered, name string, body []byte) error
}

func strictInto[T any](m func(*rendered) map[string]*T) func(*rendered, string, []byte) error {
	return func(r *rendered, name string, body []byte) error {
		v := new(T)
		if err := yaml.UnmarshalStrict(body, v); err != nil {
			return err
		}
		if _, dup := m(r)[name]; dup {
			return fmt.Errorf("two objects named %s", name)
		}
		m(r)[name] = v
		return nil
	}
}

var decoders = map[string]decoder{
	"Namespace":               {"v1", strictInto(func(r *rendered) map[string]*corev1.Namespace { return r.namespaces })},
	"ConfigMap":               {"v1", strictInto(func(r *rendered) map[string]*corev1.ConfigMap { return r.configMaps })},
	"Service":                 {"v1", strictInto(func(r *rendered) map[string]*corev1.Service { return r.services })},
	"Deployment":              {"apps/v1", strictInto(func(r *rendered) map[string]*appsv1.Deployment { return r.deployments })},
	"Job":                     {"batch/v1", strictInto(func(r *rendered) map[string]*batchv1.Job { return r.jobs })},
	"CronJob":                 {"batch/v1", strictInto(func(r *rendered) map[string]*batchv1.CronJob { return r.cronJobs })},
	"Ingress":                 {"networking.k8s.io/v1", strictInto(func(r *rendered) map[string]*networkingv1.Ingress { return r.ingresses })},
	"NetworkPolicy":           {"networking.k8s.io/v1", strictInto(func(r *rendered) map[string]*networkingv1.NetworkPolicy { return r.networkPolicies })},
	"PodDisruptionBudget":     {"policy/v1", strictInto(func(r *rendered) map[string]*policyv1.PodDisruptionBudget { return r.pdbs })},
	"HorizontalPodAutoscaler": {"autoscaling/v2", strictInto(func(r *rendered) map[string]*autoscalingv2.HorizontalPodAutoscaler { return r.hpas })},
	"ServiceMonitor":          {"monitoring.coreos.com/v1", strictInto(func(r *rendered) map[string]*monitoringv1.ServiceMonitor { return r.serviceMonitors })},
	"PrometheusRule":          {"monitoring.coreos.com/v1", strictInto(func(r *rendered) map[string]*monitoringv1.PrometheusRule { return r.prometheusRules })},
}

// render builds dir with kustomize, as `kubectl apply -k dir` does, and
// decodes every object; an unknown kind or field fails the test.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	r := &rendered{
		deployments: map[string]*appsv1.Deployment{}, jobs: map[string]*batchv1.Job{},
		cronJobs: map[string]*batchv1.CronJob{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, namespaces: map[string]*corev1.Namespace{},
		ingresses: map[string]*networkingv1.Ingress{}, networkPolicies: map[string]*networkingv1.NetworkPolicy{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		serviceMonitors: map[string]*monitoringv1.ServiceMonitor{}, prometheusRules: map[string]*monitoringv1.PrometheusRule{},
	}
	require.NotEmpty(t, resources.Resources())
	for _, res := range resources.Resources() {
		kind, name := res.GetKind(), res.GetName()
		d, ok := decoders[kind]
		require.True(t, ok, "%s: %s/%s is a kind this test does not know; add its Go type", dir, kind, name)
		require.Equal(t, d.apiVersion, res.GetApiVersion(), "%s/%s", kind, name)
		if kind == "Namespace" {
			require.Equal(t, namespace, name)
		} else {
			require.Equal(t, namespace, res.GetNamespace(), "%s/%s", kind, name)
		}
		body, err := res.AsYAML()
		require.NoError(t, err)
		require.NoError(t, d.decode(r, name, body), "%s: %s/%s does not decode strictly into its API type", dir, kind, name)
	}
	return r
}

// podTemplate is a pod spec with the name of the object that owns it.
type podTemplate struct {
	owner string
	meta  map[string]string
	spec  corev1.PodSpec
}

func (r *rendered) pods() []podTemplate {
	var out []podTemplate
	for name, d := range r.deployments {
		out = append(out, podTemplate{"Deployment/" + name, d.Spec.Template.Labels, d.Spec.Template.Spec})
	}
	for name, j := range r.jobs {
		out = append(out, podTemplate{"Job/" + name, j.Spec.Template.Labels, j.Spec.Template.Spec})
	}
	for name, c := range r.cronJobs {
		tpl := c.Spec.JobTemplate.Spec.Template
		out = append(out, podTemplate{"CronJob/" + name, tpl.Labels, tpl.Spec})
	}
	slices.SortFunc(out, func(a, b podTemplate) int { return strings.Compare(a.owner, b.owner) })
	return out
}

func allContainers(spec corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(spec.InitContainers), spec.Containers...)
}

func TestKustomizationsRender(t *testing.T) {
	t.Parallel()
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := render(t, dir)
			require.Contains(t, r.deployments, "incident-server")
			require.Contains(t, r.deployments, "incident-server-worker")
			require.Contains(t, r.jobs, "incident-server-migrate")
			require.Contains(t, r.cronJobs, "postgres-backup")
			require.Contains(t, r.cronJobs, "application-state-backup")
			require.Contains(t, r.serviceMonitors, "incident-server-metrics")
			require.Contains(t, r.prometheusRules, "incident-server-rules")
			require.Contains(t, r.ingresses, "incident-management-ingress")
		})
	}
}

func TestProductionImagesArePinned(t *testing.T) {
	t.Parallel()
	for _, p := range render(t, "overlays/production").pods() {
		for _, c := range allContainers(p.spec) {
			ref := c.Image
			if i := strings.LastIndex(ref, "/"); i >= 0 {
				ref = ref[i+1:]
			}
			_, tag, ok := strings.Cut(ref, ":")
			require.True(t, ok, "%s %s: image %s has no tag", p.owner, c.Name, c.Image)
			require.NotEqual(t, "latest", tag, "%s %s", p.owner, c.Name)
		}
	}
}

func TestPodsMeetRestrictedSecurity(t *testing.T) {
	t.Parallel()
	r := render(t, "overlays/production")
	require.Equal(t, "restricted", r.namespaces[namespace].Labels["pod-security.kubernetes.io/enforce"])
	for _, p := range r.pods() {
		t.Run(p.owner, func(t *testing.T) {
			t.Parallel()
			psc := p.spec.SecurityContext
			require.NotNil(t, psc)
			require.Equal(t, ptr(true), psc.RunAsNonRoot)
			require.Equal(t, ptr(int64(nobody)), psc.RunAsUser)
			require.Equal(t, ptr(int64(nobody)), psc.RunAsGroup)
			require.NotNil(t, psc.SeccompProfile)
			require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type)
			require.Equal(t, ptr(false), p.spec.AutomountServiceAccountToken, "no workload calls the Kubernetes API")
			for _, c := range allContainers(p.spec) {
				sc := c.SecurityContext
				require.NotNil(t, sc, c.Name)
				require.Equal(t, ptr(false), sc.AllowPrivilegeEscalation, c.Name)
				require.Equal(t, ptr(true), sc.ReadOnlyRootFilesystem, c.Name)
				require.NotNil(t, sc.Capabilities, c.Name)
				require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, c.Name)
				require.Empty(t, sc.Capabilities.Add, c.Name)
				require.NotNil(t, c.Resources.Limits.Memory(), c.Name)
				require.False(t, c.Resources.Limits.Memory().IsZero(), "%s: memory limit", c.Name)
				require.False(t, c.Resources.Requests.Cpu().IsZero(), "%s: cpu request", c.Name)
			}
		})
	}
}

// TestSecretsAreReferencedNeverInlined requires every credential to come
// from a Secret, the API to get its JWT secret, and both the API and the
// worker the keys that seal webhook URLs.
func TestSecretsAreReferencedNeverInlined(t *testing.T) {
	t.Parallel()
	r := render(t, "overlays/production")
	secretish := []string{"PASSWORD", "SECRET", "TOKEN", "DATABASE_URL", "REPLICA_URL", "KEY"}
	for _, p := range r.pods() {
		for _, c := range allContainers(p.spec) {
			for _, e := range c.Env {
				for _, word := range secretish {
					if strings.Contains(e.Name, word) {
						require.NotNil(t, e.ValueFrom, "%s %s: %s is inlined", p.owner, c.Name, e.Name)
						require.NotNil(t, e.ValueFrom.SecretKeyRef, "%s %s: %s must come from a Secret", p.owner, c.Name, e.Name)
					}
				}
			}
		}
	}
	for name, cm := range r.configMaps {
		for key, v := range cm.Data {
			require.NotContains(t, v, "password:", "ConfigMap %s key %s holds a password", name, key)
		}
	}

	api := container(t, r.deployments["incident-server"].Spec.Template.Spec, "incident-server")
	refs := map[string]string{}
	for _, e := range api.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			refs[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	require.Equal(t, "incident-server-secrets/DATABASE_URL", refs["DATABASE_URL"])
	require.Equal(t, "incident-server-secrets/JWT_SECRET", refs["INCIDENT_AUTH_JWT_SECRET"])
	require.Equal(t, "incident-server-secrets/REDIS_PASSWORD", refs["REDIS_PASSWORD"])
	require.Equal(t, "incident-server-secrets/SECRETS_KEYS", refs["INCIDENT_SECRETS_KEYS"])

	// The worker opens the webhook URLs the API sealed: the same keys.
	worker := container(t, r.deployments["incident-server-worker"].Spec.Template.Spec, "incident-server-worker")
	found := false
	for _, e := range worker.Env {
		if e.Name == "INCIDENT_SECRETS_KEYS" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			require.Equal(t, "incident-server-secrets", e.ValueFrom.SecretKeyRef.Name)
			require.Equal(t, "SECRETS_KEYS", e.ValueFrom.SecretKeyRef.Key)
			found = true
		}
	}
	require.True(t, found, "the worker gets INCIDENT_SECRETS_KEYS from the Secret")
}

func TestAPIDeploymentFollowsTheGuide(t *testing.T) {
	t.Parallel()
	r := render(t, "overlays/production")
	for _, name := range []string{"incident-server", "incident-server-worker"} {
		d := r.deployments[name]
		require.NotNil(t, d, name)
		require.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, d.Spec.Strategy.Type)
		require.Equal(t, ptr(intstr.FromString("25%")), d.Spec.Strategy.RollingUpdate.MaxSurge, name)
		require.Equal(t, ptr(intstr.FromString("25%")), d.Spec.Strategy.RollingUpdate.MaxUnavailable, name)
		aa := d.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
		require.Len(t, aa, 1, name)
		require.Equal(t, "kubernetes.io/hostname", aa[0].PodAffinityTerm.TopologyKey)
		require.Equal(t, d.Spec.Template.Labels["app"], aa[0].PodAffinityTerm.LabelSelector.MatchExpressions[0].Values[0], name)
		c := container(t, d.Spec.Template.Spec, name)
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		require.Equal(t, "100", env["GOGC"], name)
		require.NotEmpty(t, env["GOMEMLIMIT"], name)
		require.Equal(t, "1Gi", c.Resources.Limits.Memory().String(), name)
		require.Equal(t, "512Mi", c.Resources.Requests.Memory().String(), name)
	}

	worker := container(t, r.deployments["incident-server-worker"].Spec.Template.Spec, "incident-server-worker")
	require.Equal(t, "/health", worker.LivenessProbe.HTTPGet.Path, "the worker serves /health once it polls")
	require.Equal(t, "/health", worker.ReadinessProbe.HTTPGet.Path)

	api := container(t, r.deployments["incident-server"].Spec.Template.Spec, "incident-server")
	require.Equal(t, "/health", api.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/health/ready", api.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, intstr.FromInt32(apiPort), api.ReadinessProbe.HTTPGet.Port)

	pdb := r.pdbs["incident-server-pdb"]
	require.Equal(t, ptr(intstr.FromString("60%")), pdb.Spec.MinAvailable)
	require.Equal(t, "incident-server", pdb.Spec.Selector.MatchLabels["app"])

	hpa := r.hpas["incident-server-hpa"]
	require.Equal(t, "incident-server", hpa.Spec.ScaleTargetRef.Name)
	metrics := map[string]autoscalingv2.MetricSpec{}
	for _, m := range hpa.Spec.Metrics {
		switch m.Type {
		case autoscalingv2.ResourceMetricSourceType:
			metrics[string(m.Resource.Name)] = m
		case autoscalingv2.ExternalMetricSourceType:
			metrics[m.External.Metric.Name] = m
		case autoscalingv2.PodsMetricSourceType:
			metrics[m.Pods.Metric.Name] = m
		}
	}
	require.Equal(t, ptr(int32(70)), metrics["cpu"].Resource.Target.AverageUtilization)
	require.Equal(t, ptr(int32(80)), metrics["memory"].Resource.Target.AverageUtilization)
	active, ok := metrics["active_incidents"]
	require.True(t, ok, "the HPA scales on active_incidents")
	require.Equal(t, autoscalingv2.ExternalMetricSourceType, active.Type, "every pod reports the same total: an External metric")
	require.Equal(t, "10", active.External.Target.AverageValue.String())
}

// TestNetworkPolicies: everything is denied, and every pod has an allow
// policy of its own.
func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	r := render(t, "overlays/production")
	deny := r.networkPolicies["incident-management-deny-all"]
	require.NotNil(t, deny)
	require.Empty(t, deny.Spec.PodSelector.MatchLabels)
	require.Empty(t, deny.Spec.PodSelector.MatchExpressions)
	require.ElementsMatch(t, []networkingv1.PolicyType{"Ingress", "Egress"}, deny.Spec.PolicyTypes)
	require.Empty(t, deny.Spec.Ingress)
	require.Empty(t, deny.Spec.Egress)

	for _, p := range r.pods() {
		var allow []string
		for name, np := range r.networkPolicies {
			if len(np.Spec.PodSelector.MatchLabels) > 0 && selects(np.Spec.PodSelector.MatchLabels, p.meta) {
				allow = append(allow, name)
			}
		}
		require.Len(t, allow, 1, "%s: allow policies %v", p.owner, allow)
		np := r.networkPolicies[allow[0]]
		var dns bool
		for _, rule := range np.Spec.Egress {
			for _, port := range rule.Ports {
				if port.Port.IntValue() == 53 {
					dns = true
				}
			}
		}
		require.True(t, dns, "%s: %s allows no DNS", p.owner, allow[0])
	}

	// Prometheus reaches every Service the ServiceMonitor scrapes.
	for _, svc := range monitoredServices(t, r) {
		var scraped bool
		for _, np := range r.networkPolicies {
			if !selects(np.Spec.PodSelector.MatchLabels, svc.Spec.Selector) {
				continue
			}
			for _, rule := range np.Spec.Ingress {
				for _, from := range rule.From {
					if from.NamespaceSelector != nil && from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring" {
						scraped = true
					}
				}
			}
		}
		require.True(t, scraped, "Service %s is scraped but its pods admit no monitoring traffic", svc.Name)
	}
}

func TestIngressServesTheAPIOverTLS(t *testing.T) {
	t.Parallel()
	r := render(t, "overlays/production")
	ing := r.ingresses["incident-management-ingress"]
	require.Equal(t, "true", ing.Annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"])
	require.NotEmpty(t, ing.Spec.TLS)
	var tlsHosts []string
	for _, tls := range ing.Spec.TLS {
		require.NotEmpty(t, tls.SecretName)
		tlsHosts = append(tlsHosts, tls.Hosts...)
	}
	require.NotEmpty(t, ing.Spec.Rules)
	for _, rule := range ing.Spec.Rules {
		require.Contains(t, tlsHosts, rule.Host, "host %s has no certificate", rule.Host)
		for _, path := range rule.HTTP.Paths {
			svc := r.services[path.Backend.Service.Name]
			require.NotNil(t, svc, "backend %s", path.Backend.Service.Name)
			require.True(t, hasPort(svc, path.Backend.Service.Port), "Service %s has no port %v", svc.Name, path.Backend.Service.Port)
			require.Equal(t, "incident-server", svc.Spec.Selector["app"], "the Ingress routes to the API")
		}
	}
}

func TestServiceMonitorScrapesAPIAndWorker(t *testing.T) {
	t.Parallel()
	r := render(t, "overlays/production")
	sm := r.serviceMonitors["incident-server-metrics"]
	require.Len(t, sm.Spec.Endpoints, 1)
	ep := sm.Spec.Endpoints[0]
	require.Equal(t, "/metrics", ep.Path)
	var apps []string
	for _, svc := range monitoredServices(t, r) {
		require.True(t, hasPort(svc, networkingv1.ServiceBackendPort{Name: ep.Port}), "Service %s has no port %s", svc.Name, ep.Port)
		// The job label the alert rules select on.
		require.Equal(t, "incident-server-metrics", svc.Labels[sm.Spec.JobLabel], svc.Name)
		apps = append(apps, svc.Spec.Selector["app"])
	}
	require.ElementsMatch(t, []string{"incident-server", "incident-server-worker"}, apps)
	for _, d := range r.deployments {
		c := container(t, d.Spec.Template.Spec, d.Spec.Template.Spec.Containers[0].Name)
		require.True(t, slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
			return p.Name == ep.Port && p.ContainerPort == apiPort
		}), "%s serves /metrics on port %s", d.Name, ep.Port)
	}
}

// TestBackupCronJobs: the database dump and the application exports run
// nightly and upload what they wrote; the dump is recorded once uploaded.
func TestBackupCronJobs(t *testing.T) {
	t.Parallel()
	r := render(t, "overlays/production")
	dump := r.cronJobs["postgres-backup"]
	require.Equal(t, "0 2 * * *", dump.Spec.Schedule)
	require.Equal(t, batchv1.ForbidConcurrent, dump.Spec.ConcurrencyPolicy)
	spec := dump.Spec.JobTemplate.Spec.Template.Spec
	pgDump := container(t, spec, "pg-dump")
	require.Contains(t, strings.Join(pgDump.Command, " "), "pg_dump")
	require.Equal(t, "DATABASE_DIRECT_URL", pgDump.Env[0].ValueFrom.SecretKeyRef.Key, "pg_dump bypasses PgBouncer")
	// Init containers run in order, each after the last succeeded, so the
	// record step sees an uploaded dump.
	var steps []string
	for _, c := range allContainers(spec) {
		steps = append(steps, c.Name)
	}
	require.Equal(t, []string{"pg-dump", "upload", "record"}, steps)
	require.Len(t, spec.Containers, 1)
	record := container(t, spec, "record")
	require.Contains(t, strings.Join(record.Command, " "), "INSERT INTO backups")
	for _, e := range record.Env {
		if e.Name == "DATABASE_URL" {
			require.Equal(t, "DATABASE_DIRECT_URL", e.ValueFrom.SecretKeyRef.Key)
		}
	}

	exports := r.cronJobs["application-state-backup"]
	require.Equal(t, "0 6 * * *", exports.Spec.Schedule)
	var args [][]string
	for _, c := range exports.Spec.JobTemplate.Spec.Template.Spec.InitContainers {
		args = append(args, c.Args)
	}
	require.Equal(t, [][]string{
		{"export", "-output", "/backup/config.json", "config"},
		{"export", "-output", "/backup/policies.json", "policies"},
	}, args)

	for _, c := range []*batchv1.CronJob{dump, exports} {
		upload := container(t, c.Spec.JobTemplate.Spec.Template.Spec, "upload")
		require.Contains(t, strings.Join(upload.Command, " "), "aws s3 cp")
		bucket := upload.Env[0].ValueFrom.ConfigMapKeyRef
		require.Equal(t, "BACKUP_S3_URI", bucket.Key)
		require.True(t, strings.HasPrefix(r.configMaps[bucket.Name].Data[bucket.Key], "s3://"))
	}
}

// TestWorkloadsRunSubcommandsTheBinaryHas checks every incident-server
// container's first argument against cmd/incident-server's commands().
func TestWorkloadsRunSubcommandsTheBinaryHas(t *testing.T) {
	t.Parallel()
	known := binarySubcommands(t)
	r := render(t, "overlays/production")
	var seen []string
	for _, p := range r.pods() {
		for _, c := range allContainers(p.spec) {
			if !strings.Contains(c.Image, "incident-server") {
				continue
			}
			require.Empty(t, c.Command, "%s %s: the image's ENTRYPOINT is the binary; set args only", p.owner, c.Name)
			require.NotEmpty(t, c.Args, "%s %s", p.owner, c.Name)
			require.Contains(t, known, c.Args[0], "%s %s runs a subcommand the binary lacks", p.owner, c.Name)
			seen = append(seen, c.Args[0])
		}
	}
	require.Subset(t, seen, []string{"api", "worker", "migrate", "export"})
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range allContainers(spec) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func monitoredServices(t *testing.T, r *rendered) []*corev1.Service {
	t.Helper()
	sm := r.serviceMonitors["incident-server-metrics"]
	require.NotNil(t, sm)
	var out []*corev1.Service
	for _, svc := range r.services {
		if selects(sm.Spec.Selector.MatchLabels, svc.Labels) {
			out = append(out, svc)
		}
	}
	require.NotEmpty(t, out, "the ServiceMonitor selects no Service")
	return out
}

func hasPort(svc *corev1.Service, port networkingv1.ServiceBackendPort) bool {
	for _, p := range svc.Spec.Ports {
		if (port.Name != "" && p.Name == port.Name) || (port.Number != 0 && p.Port == port.Number) {
			return true
		}
	}
	return false
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

func ptr[T any](v T) *T { return &v }

// binarySubcommands reads the names in cmd/incident-server's commands()
// table: the first string of each row.
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
				row, ok := n.(*ast.CompositeLit)
				if !ok || len(row.Elts) == 0 {
					return true
				}
				first := row.Elts[0]
				if kv, ok := first.(*ast.KeyValueExpr); ok {
					first = kv.Value
				}
				if lit, ok := first.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					name, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					names = append(names, name)
					return false
				}
				return true
			})
		}
	}
	require.NotEmpty(t, names, "no Commands() table in %s or %s", cmdDir, cliDir)
	return names
}

// cliDir holds the command table every build has (cli.Commands); cmdDir's
// embedded() adds the commands of builds with the embedded server.
const cliDir = "../../internal/cli"

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
