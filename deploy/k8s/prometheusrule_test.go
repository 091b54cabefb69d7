package k8s_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite base/prometheusrule.yaml from the Prometheus rule files")

const (
	rulesGlob          = "../prometheus/rules/*.yml"
	prometheusRulePath = "base/prometheusrule.yaml"
)

// prometheusRule renders the PrometheusRule that carries the compose
// Prometheus's rule file: its text, comments included, becomes the spec.
func prometheusRule(t *testing.T) []byte {
	t.Helper()
	files, err := filepath.Glob(rulesGlob)
	require.NoError(t, err)
	require.Len(t, files, 1, "one rule file becomes one PrometheusRule spec; merge them or extend the generator")
	raw, err := os.ReadFile(files[0])
	require.NoError(t, err)

	var b bytes.Buffer
	fmt.Fprintf(&b, `# Generated from deploy/prometheus/%s by `+"`make prometheusrule`"+`;
# edit the rules there. The Prometheus Operator loads it (its ruleSelector
# may need the labels of your installation, e.g. release: <helm release>).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: incident-server-rules
  namespace: incident-management
  labels:
    app.kubernetes.io/name: incident-server
spec:
`, strings.TrimPrefix(filepath.ToSlash(files[0]), "../prometheus/"))
	for _, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		if line != "" {
			b.WriteString("  ")
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}

func TestPrometheusRuleMatchesRuleFiles(t *testing.T) {
	want := prometheusRule(t)
	if *update {
		require.NoError(t, os.WriteFile(prometheusRulePath, want, 0o644))
	}
	got, err := os.ReadFile(prometheusRulePath)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "%s is stale: run make prometheusrule", prometheusRulePath)

	// The same groups, read both ways.
	var rule monitoringv1.PrometheusRule
	require.NoError(t, yaml.UnmarshalStrict(got, &rule))
	files, err := filepath.Glob(rulesGlob)
	require.NoError(t, err)
	raw, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var spec monitoringv1.PrometheusRuleSpec
	require.NoError(t, yaml.UnmarshalStrict(raw, &spec))
	require.Equal(t, spec, rule.Spec)
	require.NotEmpty(t, spec.Groups)

	// promtool validates what the operator will load: the spec alone.
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool is not installed: make test installs it (Debian package prometheus)")
	body, err := yaml.Marshal(rule.Spec)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "rules.yml")
	require.NoError(t, os.WriteFile(file, body, 0o600))
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	require.NoError(t, err, "promtool check rules:\n%s", out)
	require.Contains(t, string(out), "SUCCESS")
}
