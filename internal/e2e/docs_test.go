package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"gopkg.in/yaml.v3"

	"github.com/incident-server/incident-server/internal/app/devstack"
	"github.com/incident-server/incident-server/internal/cli"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/testenv"
)

// docsCLIEnv makes the test binary run as the engine's command line
// instead of its tests, so the documentation's `bin/incident-server …`
// snippets run the real subcommands without building the binary.
const docsCLIEnv = "INCIDENT_DOCS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(docsCLIEnv) != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Run(ctx, docsCommands(), os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// docsCommands are the subcommands of the default build of
// bin/incident-server: cmd/incident-server adds dev and temporal (its
// embedded()) to cli.Commands.
func docsCommands() []cli.Command {
	return append([]cli.Command{
		{Name: "dev", Summary: "run the embedded stack", Run: devstack.RunDev},
		{Name: "temporal", Summary: "run only the embedded Temporal server", Run: devstack.RunTemporal},
	}, cli.Commands()...)
}

// TestDocs holds the README and the pages in docs/ to the engine, so that
// what they tell a reader to type works:
//
//   - every ```sh block runs, in reading order (the README, then the pages
//     in the order of its Documentation index), in one bash session against
//     a whole engine: localhost:8080 in a command stands for that engine's
//     API and bin/incident-server for its command line. Each curl must get
//     a 2xx answer unless the line after it says `# → <status> [body]`,
//     which is then checked (… in the body stands for anything);
//   - a block marked `<!-- not run: why -->` is checked without running:
//     make targets and variables, incident-server subcommands and flags,
//     scripts and their flags, INCIDENT_* settings, kubectl -k paths, go
//     test packages and -run names, the search attributes a block
//     registers;
//   - ```json and ```yaml blocks parse, ```text blocks are the command list
//     (checked like incident-server lines) or Temporal visibility queries
//     (run against the engine's Temporal server);
//   - every relative link resolves to a file and, with a #fragment, to a
//     heading of it, and the README's Documentation index links every page.
//
// Any other block fails the test: say how it is checked, or mark it.
func TestDocs(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	pages := docPages(t, root)

	t.Run("links", func(t *testing.T) {
		for _, p := range pages {
			checkLinks(t, root, p)
		}
	})
	t.Run("settings", func(t *testing.T) {
		for _, p := range pages {
			checkSettingNames(t, p)
		}
	})

	var run []docBlock
	var queries []docBlock
	var docsEnv map[string]string
	t.Run("blocks", func(t *testing.T) {
		c := newDocsChecker(t, root)
		for _, p := range pages {
			for _, b := range p.blocks {
				switch {
				case b.lang == "sh" && b.notRun == "":
					run = append(run, b)
				case b.lang == "sh":
					c.checkCommands(b, b.text())
				case b.lang == "json":
					if !json.Valid([]byte(b.text())) {
						t.Errorf("%s: the json block does not parse", b.at())
					}
				case b.lang == "yaml":
					var v any
					if err := yaml.Unmarshal([]byte(b.text()), &v); err != nil {
						t.Errorf("%s: the yaml block does not parse: %v", b.at(), err)
					}
				case b.lang == "text" && strings.HasPrefix(b.text(), "WorkflowType"):
					queries = append(queries, b)
				case b.lang == "text" && strings.HasPrefix(b.text(), "incident-server "):
					// The command list: a synopsis, then after a wide gap
					// what the command does.
					for i, line := range b.lines {
						if synopsis, ok := strings.CutPrefix(columnGap.Split(line, 2)[0], "incident-server "); ok {
							c.checkCLI(docBlock{page: b.page, line: b.line + 1 + i}, strings.Fields(synopsis))
						}
					}
				default:
					t.Errorf("%s: a ```%s block that is neither run nor checked: mark it <!-- not run: why --> or give it a kind the docs test checks", b.at(), b.lang)
				}
			}
		}
		docsEnv = c.makeRunEnv
	})
	if t.Failed() {
		return
	}
	runDocSnippets(t, run, queries, docsEnv)
}

// docPage is one markdown file and its fenced blocks.
type docPage struct {
	name   string // relative to the repository root
	text   string
	blocks []docBlock
}

// docBlock is one fenced block.
type docBlock struct {
	page   string
	line   int // of the opening fence, 1-based
	lang   string
	lines  []string
	notRun string // the reason of a <!-- not run: … --> marker
}

func (b docBlock) at() string   { return fmt.Sprintf("%s:%d", b.page, b.line) }
func (b docBlock) text() string { return strings.Join(b.lines, "\n") }

var (
	columnGap    = regexp.MustCompile(`\s{2,}`)
	notRunMarker = regexp.MustCompile(`^<!-- not run: (.+) -->$`)
	indexLink    = regexp.MustCompile(`\]\((docs/[a-z0-9-]+\.md)\)`)
)

// docPages reads the README and the pages its Documentation index links, in
// that order, and fails when a page in docs/ is missing from the index.
func docPages(t *testing.T, root string) []docPage {
	t.Helper()
	readme := readDocPage(t, root, "README.md")
	_, index, ok := strings.Cut(readme.text, "\n## Documentation\n")
	require.True(t, ok, "README.md has no Documentation section")
	index, _, _ = strings.Cut(index, "\n## ")
	pages := []docPage{readme}
	var linked []string
	for _, m := range indexLink.FindAllStringSubmatch(index, -1) {
		if !slices.Contains(linked, m[1]) {
			linked = append(linked, m[1])
			pages = append(pages, readDocPage(t, root, m[1]))
		}
	}
	all, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	for _, f := range all {
		name := "docs/" + filepath.Base(f)
		require.Contains(t, linked, name, "the README's Documentation index does not link %s", name)
	}
	return pages
}

func readDocPage(t *testing.T, root, name string) docPage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, name))
	require.NoError(t, err)
	p := docPage{name: name, text: string(raw)}
	lines := strings.Split(p.text, "\n")
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		b := docBlock{page: name, line: i + 1, lang: strings.TrimSpace(lang)}
		if prev := previousNonBlank(lines, i); prev >= 0 {
			if m := notRunMarker.FindStringSubmatch(lines[prev]); m != nil {
				b.notRun = m[1]
			}
		}
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			b.lines = append(b.lines, lines[i])
		}
		require.Less(t, i, len(lines), "%s: unclosed block", b.at())
		p.blocks = append(p.blocks, b)
	}
	return p
}

func previousNonBlank(lines []string, i int) int {
	for j := i - 1; j >= 0; j-- {
		if strings.TrimSpace(lines[j]) != "" {
			return j
		}
	}
	return -1
}

var (
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdFence  = regexp.MustCompile("(?s)```.*?```")
	mdInline = regexp.MustCompile("`[^`\n]*`")
)

// checkLinks resolves every relative link of p: the file must exist and a
// #fragment must name one of its headings (GitHub's anchors).
func checkLinks(t *testing.T, root string, p docPage) {
	t.Helper()
	text := mdInline.ReplaceAllString(mdFence.ReplaceAllString(p.text, ""), "")
	for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
		target := m[1]
		if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, fragment, _ := strings.Cut(target, "#")
		path := p.name
		if file != "" {
			path = filepath.ToSlash(filepath.Join(filepath.Dir(p.name), file))
		}
		full := filepath.Join(root, path)
		if _, err := os.Stat(full); err != nil {
			t.Errorf("%s: link %s: no file %s", p.name, target, path)
			continue
		}
		if fragment == "" || !strings.HasSuffix(path, ".md") {
			continue
		}
		raw, err := os.ReadFile(full)
		require.NoError(t, err)
		if !slices.Contains(headingAnchors(string(raw)), fragment) {
			t.Errorf("%s: link %s: %s has no heading with the anchor #%s", p.name, target, path, fragment)
		}
	}
}

var anchorDrop = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)

// headingAnchors are the anchors GitHub gives a page's headings: lower
// case, punctuation dropped, spaces as hyphens.
func headingAnchors(text string) []string {
	var out []string
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		slug := anchorDrop.ReplaceAllString(strings.ToLower(heading), "")
		out = append(out, strings.ReplaceAll(slug, " ", "-"))
	}
	return out
}

var settingName = regexp.MustCompile(`\bINCIDENT_[A-Z0-9_]*[A-Z0-9]\b`)

// notSettings are INCIDENT_* variables that are not configuration: the
// scripts' and the load generator's, and the one naming the config file.
var notSettings = []string{"INCIDENT_TOKEN", "INCIDENT_BASE_URL", config.PathEnv}

// checkSettingNames fails on an INCIDENT_* variable the configuration does
// not read, so a renamed setting cannot linger in the docs.
func checkSettingNames(t *testing.T, p docPage) {
	t.Helper()
	known := settingVariables()
	for _, name := range settingName.FindAllString(p.text, -1) {
		if !known[name] && !slices.Contains(notSettings, name) {
			t.Errorf("%s: %s is not a setting the configuration reads", p.name, name)
		}
	}
}

// settingVariables are the environment variables config.LoadFrom reads.
var settingVariables = sync.OnceValue(func() map[string]bool {
	seen := map[string]bool{}
	_, _ = config.LoadFrom("", func(name string) (string, bool) {
		seen[name] = true
		return "", false
	})
	return seen
})

// docsChecker checks the commands of blocks that are not run.
type docsChecker struct {
	t        *testing.T
	root     string
	makefile string
	targets  []string
	help     map[string]string // incident-server args → its -h output
	// makeRunEnv are the INCIDENT_* settings the docs start `make run`
	// with; the snippets' engine runs with them too.
	makeRunEnv map[string]string
}

var makeTarget = regexp.MustCompile(`(?m)^([a-zA-Z0-9_./-]+):(?:[^=]|$)`)

func newDocsChecker(t *testing.T, root string) *docsChecker {
	raw, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	c := &docsChecker{t: t, root: root, makefile: string(raw), help: map[string]string{}, makeRunEnv: map[string]string{}}
	for _, m := range makeTarget.FindAllStringSubmatch(c.makefile, -1) {
		c.targets = append(c.targets, m[1])
	}
	return c
}

// checkCommands checks each command of a shell text by its name, and the
// commands of its $(…) substitutions. (INCIDENT_* names anywhere in a page
// are checked by checkSettingNames.)
func (c *docsChecker) checkCommands(b docBlock, text string) {
	for _, words := range shellCommands(text) {
		for _, w := range words {
			for _, inner := range substitutions(w) {
				c.checkCommands(b, inner)
			}
		}
		var env []string
		for len(words) > 0 && isAssignment(words[0]) {
			env = append(env, words[0])
			words = words[1:]
		}
		if len(words) == 0 {
			continue
		}
		switch name, args := words[0], words[1:]; {
		case name == "make":
			c.checkMake(b, env, args)
		case name == "incident-server" || name == "bin/incident-server":
			c.checkCLI(b, args)
		case strings.HasSuffix(name, ".sh"):
			c.checkScript(b, name, args)
		case name == "kubectl":
			c.checkKubectl(b, args)
		case name == "go" && len(args) > 0 && args[0] == "test":
			c.checkGoTest(b, args[1:])
		case name == "temporal" && len(args) > 2 && args[0] == "operator" && args[1] == "search-attribute" && args[2] == "create":
			c.checkSearchAttributes(b, args[3:])
		}
	}
}

func (c *docsChecker) checkMake(b docBlock, env, args []string) {
	for _, a := range args {
		if name, _, ok := strings.Cut(a, "="); ok {
			if !strings.Contains(c.makefile, name) {
				c.t.Errorf("%s: make %s: the Makefile does not use %s", b.at(), a, name)
			}
			continue
		}
		if !slices.Contains(c.targets, a) {
			c.t.Errorf("%s: the Makefile has no target %s", b.at(), a)
		}
		if a != "run" {
			continue
		}
		for _, e := range env {
			name, value, _ := strings.Cut(e, "=")
			if strings.HasPrefix(name, "INCIDENT_") {
				c.makeRunEnv[name] = shellValue(c.t, value)
			}
		}
	}
}

var docFlag = regexp.MustCompile(`^--?([a-z][a-z0-9-]*)`)

// checkCLI checks that the subcommand exists and that its -h lists every
// flag the docs pass it.
func (c *docsChecker) checkCLI(b docBlock, args []string) {
	if len(args) == 0 {
		c.t.Errorf("%s: incident-server without a subcommand", b.at())
		return
	}
	if !slices.ContainsFunc(docsCommands(), func(cmd cli.Command) bool { return cmd.Name == args[0] }) {
		c.t.Errorf("%s: incident-server has no subcommand %s", b.at(), args[0])
		return
	}
	var flags []string
	for _, a := range args[1:] {
		for _, part := range strings.Split(a, "|") {
			if m := docFlag.FindStringSubmatch(strings.Trim(part, "[]")); m != nil {
				flags = append(flags, m[1])
			}
		}
	}
	if len(flags) == 0 {
		return
	}
	help := c.cliHelp(args[0])
	if !strings.Contains(help, "Usage of") && len(args) > 1 {
		// Subcommands with actions (token create, secrets generate-key)
		// read their flags after the action.
		help = c.cliHelp(args[0], args[1])
	}
	for _, f := range flags {
		if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(f) + `(\s|$)`).MatchString(help) {
			c.t.Errorf("%s: incident-server %s has no flag -%s; its help:\n%s", b.at(), args[0], f, help)
		}
	}
}

// cliHelp runs the command line (this test binary as bin/incident-server)
// with args and -h and returns what it printed.
func (c *docsChecker) cliHelp(args ...string) string {
	key := strings.Join(args, " ")
	if h, ok := c.help[key]; ok {
		return h
	}
	exe, err := os.Executable()
	require.NoError(c.t, err)
	cmd := exec.CommandContext(c.t.Context(), exe, append(args, "-h")...)
	cmd.Env = []string{docsCLIEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + c.t.TempDir()}
	out, _ := cmd.CombinedOutput() // a usage error is an answer too
	c.help[key] = string(out)
	return string(out)
}

func (c *docsChecker) checkScript(b docBlock, name string, args []string) {
	info, err := os.Stat(filepath.Join(c.root, name))
	if err != nil || info.Mode()&0o111 == 0 {
		c.t.Errorf("%s: %s is not an executable script of the repository", b.at(), name)
		return
	}
	var flags []string
	for _, a := range args {
		if m := docFlag.FindStringSubmatch(a); m != nil && strings.HasPrefix(a, "--") {
			flags = append(flags, m[1])
		}
	}
	if len(flags) == 0 {
		return
	}
	out, err := exec.CommandContext(c.t.Context(), filepath.Join(c.root, name), "--help").CombinedOutput()
	if err != nil {
		c.t.Errorf("%s: %s --help: %v: %s", b.at(), name, err, out)
		return
	}
	for _, f := range flags {
		if !bytes.Contains(out, []byte("--"+f)) {
			c.t.Errorf("%s: %s takes no --%s", b.at(), name, f)
		}
	}
}

func (c *docsChecker) checkKubectl(b docBlock, args []string) {
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "-k" {
			continue
		}
		if _, err := os.Stat(filepath.Join(c.root, args[i+1], "kustomization.yaml")); err != nil {
			c.t.Errorf("%s: kubectl -k %s: no kustomization there", b.at(), args[i+1])
		}
	}
}

func (c *docsChecker) checkGoTest(b docBlock, args []string) {
	var dir string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case strings.HasPrefix(a, "./"):
			dir = filepath.Join(c.root, strings.TrimSuffix(a, "/..."))
			if _, err := os.Stat(dir); err != nil {
				c.t.Errorf("%s: go test %s: no such package", b.at(), a)
				dir = ""
			}
		case a == "-run" && i+1 < len(args) && dir != "":
			name := args[i+1]
			i++
			files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
			require.NoError(c.t, err)
			found := false
			for _, f := range files {
				raw, err := os.ReadFile(f)
				require.NoError(c.t, err)
				found = found || bytes.Contains(raw, []byte("func "+name+"(t *testing.T)"))
			}
			if !found {
				c.t.Errorf("%s: go test -run %s: no such test in %s", b.at(), name, dir)
			}
		}
	}
}

// checkSearchAttributes: the attributes a block registers are exactly the
// workflows' (contract.SearchAttributeTypes), with their types.
func (c *docsChecker) checkSearchAttributes(b docBlock, args []string) {
	got := map[string]string{}
	var name string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--name":
			name = args[i+1]
		case "--type":
			got[name] = strings.ToLower(args[i+1])
		}
	}
	want := map[string]string{}
	for n, typ := range contract.SearchAttributeTypes {
		want[n] = strings.ToLower(strings.TrimPrefix(typ.String(), "INDEXED_VALUE_TYPE_"))
	}
	if !maps.Equal(want, got) {
		c.t.Errorf("%s: the block registers the search attributes %v; the workflows use %v", b.at(), got, want)
	}
}

// shellCommands splits shell text into commands (at newlines, ;, |, &&
// and ||, outside quotes), each a list of words with quotes removed.
// Comments and line continuations are dropped; $(…) stays inside its word.
func shellCommands(text string) [][]string {
	var cmds [][]string
	var words []string
	var word strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	r := []rune(text)
	for i := 0; i < len(r); i++ {
		switch ch := r[i]; {
		case ch == '\\' && i+1 < len(r) && r[i+1] == '\n':
			i++
		case ch == '\'':
			j := i + 1
			for j < len(r) && r[j] != '\'' {
				j++
			}
			word.WriteString(string(r[i+1 : min(j, len(r))]))
			inWord, i = true, j
		case ch == '"':
			j := i + 1
			for j < len(r) && r[j] != '"' {
				if r[j] == '\\' {
					j++
				}
				j++
			}
			word.WriteString(string(r[i+1 : min(j, len(r))]))
			inWord, i = true, j
		case ch == '$' && i+1 < len(r) && r[i+1] == '(':
			depth, j := 0, i+1
			for ; j < len(r); j++ {
				if r[j] == '(' {
					depth++
				} else if r[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			word.WriteString(string(r[i:min(j+1, len(r))]))
			inWord, i = true, j
		case ch == '#' && !inWord:
			for i < len(r) && r[i] != '\n' {
				i++
			}
			endCmd()
		case ch == '\n' || ch == ';' || ch == '|' || ch == '&':
			endCmd()
		case ch == ' ' || ch == '\t':
			endWord()
		default:
			word.WriteRune(ch)
			inWord = true
		}
	}
	endCmd()
	return cmds
}

var substitution = regexp.MustCompile(`\$\(([^()]*)\)`)

// substitutions returns the commands of the $(…) in a word.
func substitutions(word string) []string {
	var out []string
	for _, m := range substitution.FindAllStringSubmatch(word, -1) {
		out = append(out, m[1])
	}
	return out
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func isAssignment(word string) bool { return assignment.MatchString(word) }

// shellValue evaluates the value of a documented assignment as bash would,
// command substitutions included.
func shellValue(t *testing.T, value string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "bash", "-c", `printf %s "`+value+`"`).Output()
	require.NoError(t, err, "evaluate %s", value)
	return string(out)
}

// The engine the snippets talk to stands in for `make run`'s: its API at
// localhost:8080, a receiver for the runbook walk-through's action at
// 127.0.0.1:9099. The curl of the snippets' session rewrites those
// addresses in its arguments (bodies included) to the test's.
const (
	docsAPIHost      = "localhost:8080"
	docsAPIHostIP    = "127.0.0.1:8080"
	docsReceiverHost = "127.0.0.1:9099"
)

// docsPrelude is the start of the snippets' bash session. Its curl records
// each answer: a status outside 2xx is an error at the end of its block
// unless a `# → <status>` line claimed it.
const docsPrelude = `set -Eeuo pipefail
shopt -s inherit_errexit
__docs_at='the prelude'
trap 'echo "docs: $__docs_at: command failed (exit $?): $BASH_COMMAND" >&2' ERR
mkdir -p "$DOCS_WORK/expect"
curl() {
	local args=() a status shown=()
	for a in "$@"; do
		a=${a//localhost:8080/$DOCS_API_HOST}
		a=${a//127.0.0.1:8080/$DOCS_API_HOST}
		a=${a//127.0.0.1:9099/$DOCS_RECEIVER_HOST}
		args+=("$a")
		case $a in http*|*/api/v1*|*/v2/*) shown+=("$a") ;; esac
	done
	status=$(command curl -o "$DOCS_WORK/body" -w '%{http_code}' "${args[@]}")
	cat "$DOCS_WORK/body"
	printf '%s' "$status" >"$DOCS_WORK/status"
	case $status in
	2??) ;;
	*) printf '%s %s: %s\n' "$status" "${shown[*]}" "$(head -c 300 "$DOCS_WORK/body")" >>"$DOCS_WORK/unexpected" ;;
	esac
}
__docs_block() {
	__docs_at=$1
	: >"$DOCS_WORK/unexpected"
}
__docs_expect() {
	local n=$1 want=$2 at=$3 got
	got=$(cat "$DOCS_WORK/status")
	cp "$DOCS_WORK/body" "$DOCS_WORK/expect/$n"
	if [[ $got != "$want" ]]; then
		echo "docs: $at: the answer is $got, the page says $want: $(cat "$DOCS_WORK/body")" >&2
		exit 1
	fi
	case $want in 2??) ;; *) sed -i '$d' "$DOCS_WORK/unexpected" ;; esac
}
__docs_block_end() {
	if [[ -s $DOCS_WORK/unexpected ]]; then
		echo "docs: $__docs_at: answers the page does not expect:" >&2
		cat "$DOCS_WORK/unexpected" >&2
		exit 1
	fi
}
`

var expectLine = regexp.MustCompile(`^\s*# → (\d{3})(?: (.*))?$`)

// docsExpectation is one `# → status body` line.
type docsExpectation struct {
	at   string
	body string // as documented, … standing for anything
}

// runDocSnippets starts an engine, runs the blocks in one bash session
// against it, checks the documented answers and runs the visibility
// queries on its Temporal server.
func runDocSnippets(t *testing.T, blocks []docBlock, queries []docBlock, makeRunEnv map[string]string) {
	t.Helper()
	// Settings the docs start `make run` with, applied to this engine.
	fromDocs, err := config.LoadFrom("", func(name string) (string, bool) {
		v, ok := makeRunEnv[name]
		return v, ok
	})
	require.NoError(t, err, "the settings the docs start make run with: %v", makeRunEnv)
	for name := range makeRunEnv {
		require.Contains(t, []string{"INCIDENT_OUTBOUND_SIGNING_SECRET", "INCIDENT_RUNBOOKS_SECRETS"}, name,
			"the docs start make run with %s: apply it to the docs test's engine as well", name)
	}

	var received struct {
		sync.Mutex
		paths []string
		auth  []string
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Lock()
		received.paths = append(received.paths, r.URL.Path)
		received.auth = append(received.auth, r.Header.Get("Authorization"))
		received.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"promoted":true}`)
	}))
	t.Cleanup(receiver.Close)

	smtpHost, port, err := net.SplitHostPort(testenv.MailpitSMTPAddr(t))
	require.NoError(t, err)
	smtpPort, err := strconv.Atoi(port)
	require.NoError(t, err)
	var dbURL string
	s := newStackWith(t, func(cfg *config.Config) {
		dbURL = cfg.Database.URL
		cfg.Outbound.SigningSecret = fromDocs.Outbound.SigningSecret
		cfg.Runbooks.Secrets = fromDocs.Runbooks.Secrets
		// As `make run MAILPIT=local` sets up the email channel.
		n := &cfg.Notifications
		n.PublicURL = "http://" + docsAPIHostIP
		n.AckLinkSecret = "docs-ack-link-secret-of-at-least-32-bytes"
		n.Email.SMTPHost, n.Email.SMTPPort, n.Email.TLS = smtpHost, smtpPort, "starttls"
		n.Email.From = "Incident Server <pager@localhost>"
		n.Email.CAFile = testenv.MailpitCAFile(t)
	})

	for _, q := range queries {
		_, err := s.temporal.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{Query: q.text()})
		require.NoError(t, err, "%s: the Temporal server refuses the query", q.at())
	}

	dir := t.TempDir()
	work := filepath.Join(dir, ".docs")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.MkdirAll(work, 0o755))
	exe, err := os.Executable()
	require.NoError(t, err)
	shim := fmt.Sprintf("#!/bin/sh\nexec env %s=1 DATABASE_URL=%s REDIS_ADDR=%s INCIDENT_AUTH_JWT_SECRET=%s %s \"$@\"\n",
		docsCLIEnv, shellQuote(dbURL), shellQuote(testenv.RedisAddr(t)), shellQuote(testenv.JWTSecret), shellQuote(exe))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "incident-server"), []byte(shim), 0o755))

	var script strings.Builder
	var expects []docsExpectation
	script.WriteString(docsPrelude)
	for _, b := range blocks {
		fmt.Fprintf(&script, "__docs_block %s\n", shellQuote(b.at()))
		for i, line := range b.lines {
			script.WriteString(line + "\n")
			if m := expectLine.FindStringSubmatch(line); m != nil {
				at := fmt.Sprintf("%s:%d", b.page, b.line+1+i)
				fmt.Fprintf(&script, "__docs_expect %d %s %s\n", len(expects), m[1], shellQuote(at))
				expects = append(expects, docsExpectation{at: at, body: m[2]})
			}
		}
		script.WriteString("__docs_block_end\n")
	}
	scriptPath := filepath.Join(work, "snippets.sh")
	require.NoError(t, os.WriteFile(scriptPath, []byte(script.String()), 0o644))

	api, err := url.Parse(s.url)
	require.NoError(t, err)
	rcv, err := url.Parse(receiver.URL)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", scriptPath)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LANG=C.UTF-8",
		"DOCS_WORK=" + work, "DOCS_API_HOST=" + api.Host, "DOCS_RECEIVER_HOST=" + rcv.Host,
	}
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(&out, &errs)
	started := time.Now()
	err = cmd.Run()
	t.Logf("ran %d blocks in %s", len(blocks), time.Since(started).Round(time.Millisecond))
	require.NoError(t, err, "the snippets failed:\n%s\nthe session's output ends:\n%s", tail(errs.String(), 2000), tail(out.String(), 3000))

	for i, e := range expects {
		body, err := os.ReadFile(filepath.Join(work, "expect", strconv.Itoa(i)))
		require.NoError(t, err, "%s: never reached", e.at)
		if e.body == "" {
			continue
		}
		require.Regexp(t, documentedBody(e.body), strings.TrimSpace(string(body)), "%s: the answer is not the one the page shows", e.at)
	}

	received.Lock()
	defer received.Unlock()
	require.Contains(t, received.paths, "/promote", "the runbook walk-through's action never reached its receiver")
	for _, a := range received.auth {
		require.Equal(t, "Bearer "+fromDocs.Runbooks.Secrets["deploy_token"], a, "the action's header template names the deploy_token secret")
	}
}

// documentedBody turns a documented answer into a pattern: … stands for
// anything, the rest is literal.
func documentedBody(doc string) *regexp.Regexp {
	parts := strings.Split(doc, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`(?s)^` + strings.Join(parts, ".*") + `$`)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	sc := bufio.NewScanner(strings.NewReader(s[len(s)-n:]))
	sc.Scan() // drop the partial first line
	var b strings.Builder
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}
