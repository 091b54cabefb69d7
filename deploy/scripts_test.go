package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const scriptsDir = "scripts"

func scripts(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(scriptsDir, "*.sh"))
	require.NoError(t, err)
	return files
}

func TestOperationalScripts(t *testing.T) {
	t.Parallel()
	var names []string
	for _, f := range scripts(t) {
		names = append(names, filepath.Base(f))
	}
	require.Subset(t, names, []string{
		"deploy.sh", "rollback.sh", "smoke-tests.sh", "db-maintenance.sh", "capacity-check.sh", "disaster-recovery.sh",
	})
	// Hosts a script may name: placeholders and loopback.
	host := regexp.MustCompile(`https?://([A-Za-z0-9.-]+)`)
	for _, f := range scripts(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			src := string(raw)
			require.True(t, strings.HasPrefix(src, "#!/usr/bin/env bash\n"), "bash shebang")
			require.Contains(t, src, "\nset -euo pipefail\n")
			info, err := os.Stat(f)
			require.NoError(t, err)
			require.NotZero(t, info.Mode()&0o111, "executable")
			for _, m := range host.FindAllStringSubmatch(src, -1) {
				require.Contains(t, []string{"127.0.0.1", "localhost"}, m[1], "%s names host %s", f, m[1])
			}

			var out bytes.Buffer
			cmd := exec.Command("bash", f, "--help")
			cmd.Stdout, cmd.Stderr = &out, &out
			require.NoError(t, cmd.Run(), "--help: %s", out.String())
			require.Contains(t, out.String(), "Usage: "+filepath.Base(f))

			cmd = exec.Command("bash", f, "--no-such-option")
			err = cmd.Run()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			require.Equal(t, 2, exit.ExitCode(), "bad usage exits 2")
		})
	}
}

// TestScriptsRunSubcommandsTheBinaryHas checks every incident-server
// subcommand a script runs against the binary's commands() table.
func TestScriptsRunSubcommandsTheBinaryHas(t *testing.T) {
	t.Parallel()
	known := binarySubcommands(t)
	call := regexp.MustCompile(`(?:/usr/local/bin/incident-server|"\$binary")\s+([a-z][a-z-]*)`)
	var seen []string
	for _, f := range scripts(t) {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range call.FindAllStringSubmatch(line, -1) {
				require.Contains(t, known, m[1], "%s runs `incident-server %s`", f, m[1])
				seen = append(seen, m[1])
			}
		}
	}
	require.Subset(t, seen, []string{"import", "restore", "schedules"})
}

// fakeKubectl is a kubectl that records its arguments and plays a cluster:
// apply bumps the API Deployment's revision (the worker's stays), and
// `rollout status` of failDeployment fails.
const fakeKubectl = `#!/usr/bin/env bash
set -euo pipefail
echo "$*" >>"$FAKE_DIR/calls"
args=" $* "
case $args in
*" apply "*) echo 4 >"$FAKE_DIR/incident-server.rev" ;;
*" get deployment "*"revision"*)
	for a in "$@"; do
		if [[ -f $FAKE_DIR/$a.rev ]]; then cat "$FAKE_DIR/$a.rev"; exit 0; fi
	done
	echo 3 ;;
*" get deployment "*"readyReplicas"*) echo 5 ;;
*" get deployment "*"spec.replicas"*) echo 5 ;;
*" rollout status deployment/${FAIL_DEPLOYMENT:-none} "*) exit 1 ;;
*" wait --for=condition=${MIGRATION:-complete} "*) exit 0 ;;
# The other condition never arrives; deploy.sh stops waiting for it.
*" wait --for=condition="*) exec sleep 60 </dev/null >/dev/null 2>&1 ;;
esac
`

func runDeploy(t *testing.T, failDeployment, migration string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.Mkdir(bin, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "kubectl"), []byte(fakeKubectl), 0o755))
	cmd := exec.Command("bash", filepath.Join(scriptsDir, "deploy.sh"), "--timeout", "5s")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_DIR="+dir,
		"FAIL_DEPLOYMENT="+failDeployment, "MIGRATION="+migration, "INCIDENT_BASE_URL=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	calls, err := os.ReadFile(filepath.Join(dir, "calls"))
	require.NoError(t, err)
	return code, string(calls), stderr.String()
}

func TestDeployScriptRollsBackAFailedRollout(t *testing.T) {
	t.Parallel()
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		code, calls, stderr := runDeploy(t, "", "complete")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, calls, "apply -k ")
		require.Contains(t, calls, "wait --for=condition=complete job/incident-server-migrate")
		require.Contains(t, calls, "rollout status deployment/incident-server --timeout 5s")
		require.Contains(t, calls, "rollout status deployment/incident-server-worker --timeout 5s")
		require.NotContains(t, calls, "rollout undo")
		require.Less(t, strings.Index(calls, "delete job incident-server-migrate"), strings.Index(calls, "apply -k "),
			"the finished migration Job goes before the new one is applied")
	})
	t.Run("rollout fails", func(t *testing.T) {
		t.Parallel()
		code, calls, stderr := runDeploy(t, "incident-server", "complete")
		require.Equal(t, 1, code, stderr)
		require.Contains(t, calls, "rollout undo deployment/incident-server\n")
		require.NotContains(t, calls, "rollout undo deployment/incident-server-worker", "the worker's revision did not change")
		require.Contains(t, stderr, "FAILED: rollout of incident-server")
	})
	t.Run("migration fails", func(t *testing.T) {
		t.Parallel()
		code, calls, stderr := runDeploy(t, "", "failed")
		require.Equal(t, 1, code, stderr)
		require.Contains(t, stderr, "FAILED: migration job")
		require.Contains(t, calls, "rollout undo deployment/incident-server\n", "the API was already rolling")
		require.Less(t, strings.Index(calls, "rollout undo"), strings.Index(calls, "rollout status"),
			"the failed migration stops the deployment before any rollout is awaited")
	})
}

// fakeTop is a kubectl whose metrics show one API pod at 900Mi of its 1Gi
// limit and an autoscaler with room to grow.
const fakeTop = `#!/usr/bin/env bash
args=" $* "
case $args in
*" top nodes "*) echo "NAME CPU(cores) CPU% MEMORY(bytes) MEMORY%"; echo "node-1 900m 45% 6000Mi 75%" ;;
*" top pods --no-headers "*) printf 'incident-server-a 250m 900Mi\nincident-server-worker-b 100m 200Mi\n' ;;
*" top pods "*) echo "NAME CPU(cores) MEMORY(bytes)" ;;
*" get pods "*) printf 'incident-server-a 1Gi\nincident-server-worker-b 1Gi\n' ;;
*" get hpa -o "*) printf 'incident-server-hpa 5 20\n' ;;
*" get hpa "*) echo "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS" ;;
*" get pvc "*) echo "NAME STATUS CAPACITY CLASS" ;;
*) echo "unexpected kubectl $*" >&2; exit 1 ;;
esac
`

func TestCapacityCheckFlagsMemoryNearTheLimit(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "kubectl"), []byte(fakeTop), 0o755))
	run := func(threshold string) (int, string) {
		cmd := exec.Command("bash", filepath.Join(scriptsDir, "capacity-check.sh"), "--threshold", threshold)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode(), out.String()
		}
		require.NoError(t, err)
		return 0, out.String()
	}

	code, out := run("80")
	require.Equal(t, 1, code, out)
	require.Regexp(t, `incident-server-a +900 / +1024 MiB +87% +TIGHT`, out)
	require.Regexp(t, `incident-server-worker-b +200 / +1024 MiB +19%\n`, out)

	code, out = run("90")
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "TIGHT")
	require.Contains(t, out, "headroom everywhere")
}
