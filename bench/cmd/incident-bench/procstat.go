package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// This file reads what a process costs from Linux's /proc: resident memory
// (VmRSS in /proc/<pid>/status) and CPU time (utime+stime in
// /proc/<pid>/stat), and finds the process listening on a TCP port.

// clockTicks is USER_HZ, the unit of utime and stime. It is 100 on every
// Linux architecture Go runs on; sysconf(_SC_CLK_TCK) would need cgo.
const clockTicks = 100

// procSample is one reading of a process.
type procSample struct {
	At       time.Time
	RSSBytes int64
	// CPUTicks is utime+stime, user and system CPU time in clock ticks.
	CPUTicks int64
}

// readProc reads pid's resident memory and CPU time.
func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read process %d: %w", pid, err)
	}
	rss, err := parseVmRSS(string(status))
	if err != nil {
		return s, fmt.Errorf("process %d: %w", pid, err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read process %d: %w", pid, err)
	}
	ticks, err := parseStatCPU(string(stat))
	if err != nil {
		return s, fmt.Errorf("process %d: %w", pid, err)
	}
	s.RSSBytes, s.CPUTicks = rss, ticks
	return s, nil
}

// parseVmRSS returns the VmRSS line of /proc/<pid>/status in bytes.
func parseVmRSS(status string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want \"<n> kB\"", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS line %q: %w", line, err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS in /proc status (a kernel thread, or a zombie?)")
}

// parseStatCPU returns utime+stime (fields 14 and 15) of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so fields are counted from the last ')'.
func parseStatCPU(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	// After ')' come field 3 (state), 4, …: utime is field 14, the 12th here.
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return utime + stime, nil
}

// listenerPID returns the process holding a listening TCP socket on port
// (IPv4 or IPv6, any address). It reads /proc/net/tcp{,6} for the socket's
// inode, then every process's descriptors for that inode; as root it sees
// them all, otherwise only the caller's own processes.
func listenerPID(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, ino := range listeningInodes(string(b), port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on TCP port %d", port)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name()))
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("a socket listens on TCP port %d, but no readable process holds it (run as its user, or pass -engine-pid)", port)
}

// listeningInodes returns the inodes of the sockets of a /proc/net/tcp
// table that listen (state 0A) on port.
func listeningInodes(table string, port int) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(table))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseInt(hexPort, 16, 32)
		if err != nil || int(p) != port {
			continue
		}
		out = append(out, f[9])
	}
	return out
}

// idleReading is one process (or several added up) over an idle window,
// sampled every second: the last, mean and highest resident memory, and
// the CPU share used over the window, in percent of one core.
type idleReading struct {
	WindowS     float64 `json:"window_s"`
	RSSBytes    int64   `json:"rss_bytes"`
	RSSMeanByte int64   `json:"rss_mean_bytes"`
	RSSMaxBytes int64   `json:"rss_max_bytes"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	// CPUPercent is CPU time over wall time, in percent of one core.
	CPUPercent float64 `json:"cpu_percent"`
}

// filesSize sums the sizes of the files that exist among paths; missing
// ones count zero. It returns each file's size too.
func filesSize(paths []string) (int64, map[string]int64) {
	var total int64
	each := map[string]int64{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		each[filepath.Base(p)] = fi.Size()
		total += fi.Size()
	}
	return total, each
}
