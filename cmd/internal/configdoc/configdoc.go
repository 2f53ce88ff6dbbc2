// Package configdoc keeps the README's configuration table and
// docker-compose.yml true to the settings the binaries accept. Each binary's
// test prints its --help, reads the settings from it with ParseHelp, and
// calls CheckBinary; this package's own test checks the compose file's
// topology.
//
// The table is the first one in the README whose header is
// "variable | flag | binaries | default | meaning". In each row the variable
// cell holds one ORDERFLOW_* name in backticks, the flag cell the flag in
// backticks (`--http-addr`), the binaries cell the short names api, relay,
// projector, and the default cell either one value in backticks, compared
// with the default --help prints, or prose (such as "required" or "host
// name"), which is not compared.
package configdoc

// One concept, the configuration table's check: reading --help, the
// README's table and the compose file, and comparing them. It passes 400
// lines because the three parsers and their comparison belong together.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/orderflow/orderflow/cmd/internal/mdtable"
	"github.com/orderflow/orderflow/cmd/internal/metricsdoc"
	"github.com/orderflow/orderflow/cmd/internal/service"
)

// ReadmePath and ComposePath are relative to the module root.
const (
	ReadmePath  = "README.md"
	ComposePath = "docker-compose.yml"
)

// Binaries are the programs the table describes, by the short name its
// binaries cell uses.
var Binaries = map[string]string{
	"api":       "orderflow-api",
	"relay":     "orderflow-relay",
	"projector": "orderflow-projector",
}

// Setting is one flag as a binary's --help prints it.
type Setting struct {
	Flag string
	Env  string
	// Default is the printed default, unquoted. --help prints none for a
	// type's zero value; Default is then that value as the table writes it
	// (false, 0, 0s), or "" for a string.
	Default string
	Usage   string
}

// zeroDefaults are the defaults --help leaves out, by the type name it
// prints after the flag (none for a bool).
var zeroDefaults = map[string]string{"": "false", "int": "0", "uint": "0", "int64": "0", "uint64": "0", "float64": "0", "duration": "0s", "string": ""}

var (
	envInUsage     = regexp.MustCompile(`\(env (ORDERFLOW_[A-Z0-9_]+)\)`)
	defaultInUsage = regexp.MustCompile(`\(default (.*)\)$`)
)

// ParseHelp reads the settings from a --help text printed by
// flag.PrintDefaults: a line "  -name [type]" per flag, then its usage on
// lines indented by four spaces and a tab.
func ParseHelp(text string) ([]Setting, error) {
	var (
		out   []Setting
		types []string
		usage []string
		errs  []error
	)
	flush := func() {
		if len(out) == 0 {
			return
		}
		s := &out[len(out)-1]
		s.Usage = strings.Join(usage, " ")
		usage = nil
		if m := envInUsage.FindStringSubmatch(s.Usage); m != nil {
			s.Env = m[1]
		}
		if m := defaultInUsage.FindStringSubmatch(s.Usage); m != nil {
			s.Default = m[1]
			if u, err := strconv.Unquote(m[1]); err == nil {
				s.Default = u
			}
		} else if zero, ok := zeroDefaults[types[len(types)-1]]; ok {
			s.Default = zero
		} else {
			errs = append(errs, fmt.Errorf("-%s: no default printed and no zero value known for type %q", s.Flag, types[len(types)-1]))
		}
		if s.Env != service.EnvName(s.Flag) {
			errs = append(errs, fmt.Errorf("-%s: usage %q names env %q, want %s", s.Flag, s.Usage, s.Env, service.EnvName(s.Flag)))
		}
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "  -"):
			flush()
			fields := strings.Fields(line)
			out = append(out, Setting{Flag: strings.TrimPrefix(fields[0], "-")})
			typ := ""
			if len(fields) > 1 {
				typ = fields[1]
			}
			types = append(types, typ)
		case strings.HasPrefix(line, "    \t") && len(out) > 0:
			usage = append(usage, strings.TrimSpace(line))
		}
	}
	flush()
	if len(out) == 0 {
		errs = append(errs, errors.New("no flag in the help text"))
	}
	return out, errors.Join(errs...)
}

// Row is one row of the README's configuration table.
type Row struct {
	Env      string
	Flag     string
	Binaries []string // full names, sorted
	// Default is the backticked default, or "" with Prose true.
	Default string
	Prose   bool
	Line    int
}

var (
	backticked = regexp.MustCompile("`([^`]*)`")
	envName    = regexp.MustCompile(`^ORDERFLOW_[A-Z0-9_]+$`)
	shortName  = regexp.MustCompile(`\b(api|relay|projector)\b`)
	tableHead  = []string{"variable", "flag", "binaries", "default", "meaning"}
)

// ParseTable reads the configuration table of the markdown file at path.
func ParseTable(path string) ([]Row, error) {
	lines, err := mdtable.ReadLines(path)
	if err != nil {
		return nil, err
	}
	var (
		rows  []Row
		errs  []error
		state int // 0 before the table, 1 in it, 2 after it
	)
	for _, l := range lines {
		if !mdtable.IsRow(l.Text) {
			if state == 1 {
				break
			}
			continue
		}
		cells := mdtable.SplitRow(l.Text)
		if state == 0 {
			head := make([]string, len(cells))
			for i, c := range cells {
				head[i] = strings.ToLower(c)
			}
			if slices.Equal(head, tableHead) {
				state = 1
			}
			continue
		}
		if mdtable.IsSeparator(l.Text) {
			continue
		}
		row, err := parseRow(cells, l.No)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, l.No, err))
			continue
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		errs = append(errs, fmt.Errorf("%s: no configuration table (header %q)", path, strings.Join(tableHead, " | ")))
	}
	seen := make(map[string]int)
	for _, r := range rows {
		if prev, ok := seen[r.Env]; ok {
			errs = append(errs, fmt.Errorf("%s:%d: `%s` again (first on line %d)", path, r.Line, r.Env, prev))
		}
		seen[r.Env] = r.Line
	}
	return rows, errors.Join(errs...)
}

func parseRow(cells []string, line int) (Row, error) {
	if len(cells) != len(tableHead) {
		return Row{}, fmt.Errorf("row has %d cells, the table %d", len(cells), len(tableHead))
	}
	r := Row{Line: line}
	env := backticked.FindAllStringSubmatch(cells[0], -1)
	if len(env) != 1 || !envName.MatchString(env[0][1]) {
		return Row{}, fmt.Errorf("variable cell %q must hold one ORDERFLOW_* name in backticks", cells[0])
	}
	r.Env = env[0][1]
	flag := backticked.FindAllStringSubmatch(cells[1], -1)
	if len(flag) != 1 || !strings.HasPrefix(flag[0][1], "--") {
		return Row{}, fmt.Errorf("`%s`: flag cell %q must hold one --flag in backticks", r.Env, cells[1])
	}
	r.Flag = strings.TrimPrefix(flag[0][1], "--")
	for _, m := range shortName.FindAllString(cells[2], -1) {
		r.Binaries = append(r.Binaries, Binaries[m])
	}
	slices.Sort(r.Binaries)
	r.Binaries = slices.Compact(r.Binaries)
	if len(r.Binaries) == 0 {
		return Row{}, fmt.Errorf("`%s`: binaries cell %q names none of api, relay, projector", r.Env, cells[2])
	}
	switch defaults := backticked.FindAllStringSubmatch(cells[3], -1); len(defaults) {
	case 0:
		r.Prose = true
	case 1:
		r.Default = defaults[0][1]
	default:
		return Row{}, fmt.Errorf("`%s`: default cell %q holds more than one value in backticks", r.Env, cells[3])
	}
	return r, nil
}

// Check compares binary's settings with the table, both ways.
func Check(binary string, settings []Setting, rows []Row) []error {
	var errs []error
	byEnv := make(map[string]Row)
	for _, r := range rows {
		byEnv[r.Env] = r
	}
	known := make(map[string]bool)
	for _, s := range settings {
		known[s.Env] = true
		r, ok := byEnv[s.Env]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s accepts --%s (%s), which the README's configuration table does not list", binary, s.Flag, s.Env))
			continue
		case !slices.Contains(r.Binaries, binary):
			errs = append(errs, fmt.Errorf("%s:%d: `%s` does not list %s, which accepts it", ReadmePath, r.Line, s.Env, binary))
		}
		if r.Flag != s.Flag {
			errs = append(errs, fmt.Errorf("%s:%d: `%s` has flag --%s, %s's is --%s", ReadmePath, r.Line, s.Env, r.Flag, binary, s.Flag))
		}
		if !r.Prose && r.Default != s.Default {
			errs = append(errs, fmt.Errorf("%s:%d: `%s` default `%s`, %s --help says %q", ReadmePath, r.Line, s.Env, r.Default, binary, s.Default))
		}
	}
	for _, r := range rows {
		if slices.Contains(r.Binaries, binary) && !known[r.Env] {
			errs = append(errs, fmt.Errorf("%s:%d: `%s` is listed for %s, which has no such setting", ReadmePath, r.Line, r.Env, binary))
		}
	}
	return errs
}

// Service is what the checks need of one compose service.
type Service struct {
	Name string
	// Binary is the base name of the entrypoint's program ("" for images
	// that are not OrderFlow's).
	Binary      string
	Environment map[string]string
}

// Compose is the parsed compose file: its services in file order, plus the
// whole document for topology checks.
type Compose struct {
	Services []Service
	Raw      ComposeFile
}

// ComposeFile is the part of the compose schema the checks read.
type ComposeFile struct {
	Services map[string]ComposeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

// ComposeService is one service of ComposeFile.
type ComposeService struct {
	Image       string             `yaml:"image"`
	Build       any                `yaml:"build"`
	Entrypoint  []string           `yaml:"entrypoint"`
	Command     []string           `yaml:"command"`
	Environment yaml.Node          `yaml:"environment"`
	Ports       []string           `yaml:"ports"`
	Volumes     []string           `yaml:"volumes"`
	Restart     string             `yaml:"restart"`
	Healthcheck *Healthcheck       `yaml:"healthcheck"`
	DependsOn   map[string]Depends `yaml:"depends_on"`
}

// Healthcheck is a service's healthcheck.
type Healthcheck struct {
	Test    []string `yaml:"test"`
	Disable bool     `yaml:"disable"`
}

// Depends is one entry of depends_on in its long form.
type Depends struct {
	Condition string `yaml:"condition"`
}

// ParseCompose reads the compose file at path; yaml.v3 resolves its anchors
// and merge keys (<<) as compose does. ${VAR:-default} substitutions are
// left as written.
func ParseCompose(path string) (*Compose, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw ComposeFile
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var order yaml.Node
	if err := yaml.Unmarshal(data, &order); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := &Compose{Raw: raw}
	var errs []error
	for _, name := range serviceOrder(&order) {
		s := raw.Services[name]
		env, err := environment(&s.Environment)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: service %s: %w", path, name, err))
		}
		svc := Service{Name: name, Environment: env}
		if len(s.Entrypoint) > 0 {
			if b := filepath.Base(s.Entrypoint[0]); strings.HasPrefix(b, "orderflow-") {
				svc.Binary = b
			}
		}
		c.Services = append(c.Services, svc)
	}
	return c, errors.Join(errs...)
}

// serviceOrder returns the service names in the order the file lists them.
func serviceOrder(doc *yaml.Node) []string {
	if len(doc.Content) == 0 {
		return nil
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "services" {
			var names []string
			svcs := top.Content[i+1]
			for j := 0; j+1 < len(svcs.Content); j += 2 {
				names = append(names, svcs.Content[j].Value)
			}
			return names
		}
	}
	return nil
}

// environment reads either form compose allows: a mapping, or a list of
// NAME=value strings.
func environment(n *yaml.Node) (map[string]string, error) {
	out := make(map[string]string)
	switch n.Kind {
	case 0:
		return out, nil
	case yaml.MappingNode, yaml.AliasNode:
		var m map[string]string
		if err := n.Decode(&m); err != nil {
			return nil, fmt.Errorf("environment: %w", err)
		}
		return m, nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return nil, fmt.Errorf("environment: %w", err)
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("environment: neither a mapping nor a list")
}

// CheckCompose requires every ORDERFLOW_* variable a service running binary
// sets to be one of binary's settings.
func CheckCompose(binary string, settings []Setting, c *Compose) []error {
	known := make(map[string]bool)
	for _, s := range settings {
		known[s.Env] = true
	}
	var errs []error
	services := 0
	for _, svc := range c.Services {
		if svc.Binary != binary {
			continue
		}
		services++
		for _, k := range sortedKeys(svc.Environment) {
			if strings.HasPrefix(k, "ORDERFLOW_") && !known[k] {
				errs = append(errs, fmt.Errorf("%s: service %s sets %s, which %s does not accept", ComposePath, svc.Name, k, binary))
			}
		}
	}
	if services == 0 {
		errs = append(errs, fmt.Errorf("%s: no service runs %s", ComposePath, binary))
	}
	return errs
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CheckBinary checks binary's --help text against the README's table and
// the compose file under the module root.
func CheckBinary(binary, help string) []error {
	settings, err := ParseHelp(help)
	if err != nil {
		return []error{fmt.Errorf("%s --help: %w", binary, err)}
	}
	root, err := metricsdoc.Root()
	if err != nil {
		return []error{err}
	}
	rows, err := ParseTable(filepath.Join(root, ReadmePath))
	if err != nil {
		return []error{err}
	}
	compose, err := ParseCompose(filepath.Join(root, ComposePath))
	if err != nil {
		return []error{err}
	}
	return append(Check(binary, settings, rows), CheckCompose(binary, settings, compose)...)
}
