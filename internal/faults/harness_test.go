package faults_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Set by TestMain for every test of the run.
var (
	// binary is bin/incident-server, built once per run unless
	// INCIDENT_SERVER_BIN names one.
	binary string
	// repoRoot is the module's root directory.
	repoRoot string
	// runDir holds this run's process logs: .data/faults/<UTC time>/.
	runDir string
	// runStamp names the run: its start in UTC.
	runStamp string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	repoRoot = root
	runStamp = time.Now().UTC().Format("20060102T150405Z")
	runDir = filepath.Join(repoRoot, ".data", "faults", runStamp)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "faults: create run dir:", err)
		return 1
	}
	binary = os.Getenv("INCIDENT_SERVER_BIN")
	if binary == "" {
		dir, err := os.MkdirTemp("", "faults-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults: temp dir:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "incident-server")
		if err := build(binary); err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			return 1
		}
	}
	code := m.Run()
	if err := writeReport(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: write report:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// build compiles cmd/incident-server into out. The build cache makes every
// build after the first one of a machine quick.
func build(out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/incident-server")
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build incident-server: %w\n%s", err, b)
	}
	return nil
}

// moduleRoot walks up from the working directory to the go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is one child process that a scenario starts, kills and starts
// again. Its output goes to a log file that every start appends to, after a
// header line.
type proc struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string
	// cred runs the process as another OS user (Postgres refuses root).
	cred *syscall.Credential
	// ready returns nil once the process serves; start polls it.
	ready func(ctx context.Context) error

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	stopping bool
	starts   int
	// exits lists the exits nobody asked for, for the failure report.
	exits []string
}

// readyTimeout bounds one start, generous for a slow, loaded machine.
const readyTimeout = 2 * time.Minute

// start runs the process and waits until it is ready.
func (p *proc) start() error {
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return fmt.Errorf("%s already runs", p.name)
	}
	p.starts++
	f, err := os.OpenFile(p.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("open log of %s: %w", p.name, err)
	}
	fmt.Fprintf(f, "=== %s: start %d at %s\n", p.name, p.starts, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = "/"
	// Own process group, so a terminal's Ctrl-C reaches the test, which
	// stops its children in order; Pdeathsig ends them if the test dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	err = cmd.Start()
	_ = f.Close()
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.stopping = cmd, done, false
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		if !p.stopping {
			p.exits = append(p.exits, fmt.Sprintf("%s exited on its own at %s: %v",
				p.name, time.Now().UTC().Format(time.RFC3339Nano), err))
		}
		if p.cmd == cmd {
			p.cmd = nil
		}
		p.mu.Unlock()
		close(done)
	}()
	if p.ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for {
		attempt, stop := context.WithTimeout(ctx, 2*time.Second)
		err := p.ready(attempt)
		stop()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited while starting; log %s:\n%s", p.name, p.logPath, tail(p.logPath, 30))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s: %v; log %s:\n%s", p.name, readyTimeout, err, p.logPath, tail(p.logPath, 30))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// signal sends sig and waits for the process to end; after grace it is
// killed. A process that is not running is left alone.
func (p *proc) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil {
		p.mu.Unlock()
		return
	}
	p.stopping = true
	p.mu.Unlock()
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	_ = cmd.Process.Kill()
	<-done
}

// kill ends the process with SIGKILL: no shutdown, no goodbye.
func (p *proc) kill() { p.signal(syscall.SIGKILL, time.Minute) }

// stop asks the process to shut down (SIGTERM), as a deployment would.
func (p *proc) stop() { p.signal(syscall.SIGTERM, 30*time.Second) }

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// unexpectedExits returns the exits nobody asked for.
func (p *proc) unexpectedExits() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.exits...)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// grepCount counts the occurrences of s in a file.
func grepCount(path, s string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte(s))
}
