package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// The Kubernetes deployment takes one backup a night: the postgres-backup
// CronJob dumps, uploads, then records the run; the worker's backup
// schedule is off there.

type cronJob struct {
	Spec struct {
		Schedule    string `yaml:"schedule"`
		JobTemplate struct {
			Spec struct {
				Template struct {
					Spec struct {
						InitContainers []container `yaml:"initContainers"`
						Containers     []container `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

func postgresBackup(t *testing.T) cronJob {
	t.Helper()
	var cj cronJob
	decodeObject(t, "backup-cronjobs.yaml", "CronJob", "postgres-backup", &cj)
	return cj
}

// script returns the shell script a container of the CronJob runs.
func (cj cronJob) script(t *testing.T, name string) string {
	t.Helper()
	spec := cj.Spec.JobTemplate.Spec.Template.Spec
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		if c.Name == name {
			require.Len(t, c.Command, 3, name)
			require.Equal(t, []string{"/bin/sh", "-c"}, c.Command[:2], name)
			return c.Command[2]
		}
	}
	t.Fatalf("postgres-backup has no container %s", name)
	return ""
}

func TestKubernetesBacksUpWithTheCronJobOnly(t *testing.T) {
	t.Parallel()
	cfg, _, err := loadConfig(k8sEnv(t, workloadByName(t, "incident-server-worker")))
	require.NoError(t, err)
	require.Empty(t, cfg.Backup.Cron, "the worker's backup schedule is off in Kubernetes")
	require.NotEmpty(t, cfg.Maintenance.Cron, "maintenance still runs")

	cj := postgresBackup(t)
	require.Equal(t, "0 2 * * *", cj.Spec.Schedule)
	spec := cj.Spec.JobTemplate.Spec.Template.Spec
	var steps []string
	for _, c := range spec.InitContainers {
		steps = append(steps, c.Name)
	}
	for _, c := range spec.Containers {
		steps = append(steps, c.Name)
	}
	// Init containers run one after the other and each must succeed before
	// the next starts: a run is recorded only once its dump is uploaded.
	require.Equal(t, []string{"pg-dump", "upload"}, steps[:len(spec.InitContainers)])
	require.Equal(t, []string{"record"}, steps[len(spec.InitContainers):])
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		for _, e := range c.Env {
			if e.Name == "DATABASE_URL" {
				require.Equal(t, "DATABASE_DIRECT_URL", e.ValueFrom.SecretKeyRef.Key, "%s bypasses PgBouncer", c.Name)
			}
		}
	}
}

// TestBackupCronJobRecordsTheDumpItUploads runs the CronJob's dump and
// record steps, as written in the manifest, against a database of the test
// server, with a directory standing in for the pod's /backup volume. The
// upload step between them is `aws s3 cp` and does not run here.
func TestBackupCronJobRecordsTheDumpItUploads(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbURL := testenv.Database(t, true)
	st, err := store.Open(ctx, dbURL, store.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(st.Close)

	cj := postgresBackup(t)
	run := func(container, dir, databaseURL string) (string, error) {
		cmd := exec.Command("sh", "-c", strings.ReplaceAll(cj.script(t, container), "/backup", dir))
		cmd.Env = append(os.Environ(), "DATABASE_URL="+databaseURL, "BACKUP_S3_URI=s3://backups.example/incident-management/")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// A dump that cannot reach the database fails its step, so nothing is
	// uploaded or recorded.
	out, err := run("pg-dump", t.TempDir(), "postgres://postgres@127.0.0.1:1/incidents?connect_timeout=5")
	require.Error(t, err, "%s", out)
	last, err := st.LastBackupSuccess(ctx)
	require.NoError(t, err)
	require.Zero(t, last)

	dir := t.TempDir()
	before := time.Now().UTC().Truncate(time.Second)
	out, err = run("pg-dump", dir, dbURL)
	require.NoError(t, err, "%s", out)
	dumps, err := filepath.Glob(filepath.Join(dir, "incidents_*.sql.gz"))
	require.NoError(t, err)
	require.Len(t, dumps, 1)
	info, err := os.Stat(dumps[0])
	require.NoError(t, err)
	name := filepath.Base(dumps[0])
	started, err := time.Parse("20060102_150405", strings.TrimSuffix(strings.TrimPrefix(name, "incidents_"), ".sql.gz"))
	require.NoError(t, err, "dump file %s is named by its UTC start", name)

	out, err = run("record", dir, dbURL)
	require.NoError(t, err, "%s", out)
	// A record step run twice (its pod retried) keeps one row for the dump.
	out, err = run("record", dir, dbURL)
	require.NoError(t, err, "%s", out)

	runs, err := st.ListBackups(ctx, 10)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	b := runs[0]
	require.Equal(t, "postgres-backup/"+name, b.RunKey)
	require.Equal(t, store.BackupOK, b.Status)
	require.Equal(t, "s3://backups.example/incident-management/database/"+name, b.File)
	require.Equal(t, info.Size(), b.SizeBytes)
	require.Equal(t, started, b.StartedAt.UTC())
	require.False(t, b.StartedAt.Before(before), "started %s, before the step ran at %s", b.StartedAt, before)
	require.NotNil(t, b.FinishedAt)
	require.False(t, b.FinishedAt.Before(b.StartedAt))

	// What backup_last_success_timestamp_seconds reports, and BackupStale
	// watches.
	last, err = st.LastBackupSuccess(ctx)
	require.NoError(t, err)
	require.Equal(t, b.FinishedAt.Round(time.Second).Unix(), last)
}
