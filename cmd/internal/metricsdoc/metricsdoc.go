// Package metricsdoc keeps docs/metrics.md and the Grafana dashboard true to
// the metrics the binaries register. Each binary's test builds its registry
// the way the binary does, through a Recorder, and calls Check; this
// package's own test checks the dashboard's queries against the document.
//
// The document's metric tables are those whose header's first cell is
// "metric". In each row the first cell holds the name in backticks (a name
// ending in * stands for a group, such as `go_*`), the "type" cell the
// Prometheus type, and the "labels" cell every label name in backticks ("—"
// for none). A row belongs to the binaries named in its table's "exposed by"
// cell when the table has that column, otherwise to those named in the
// closest heading above it.
package metricsdoc

// One concept, the metrics document's check: the registry's metrics, the
// document's tables and the dashboard's queries, compared. It passes 400
// lines because the parsers and their comparison belong together.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/orderflow/orderflow/cmd/internal/mdtable"
)

// Binaries are the programs whose metrics the document describes.
var Binaries = []string{"orderflow-api", "orderflow-relay", "orderflow-projector"}

// DocPath and DashboardPath are relative to the module root.
const (
	DocPath       = "docs/metrics.md"
	DashboardPath = "deploy/grafana/orderflow-dashboard.json"
)

// Family is one registered metric family.
type Family struct {
	Name string
	// Type is counter, gauge, histogram, summary or untyped; empty when it
	// cannot be told (a custom collector that has no metric yet).
	Type string
	// Labels are the label names, constant and variable, sorted.
	Labels []string
}

// Recorder is a prometheus.Registerer that remembers every collector
// registered through it, so that its descriptors can be listed: a
// prometheus.Registry cannot list them, and its Gather leaves out a vector
// that has no child yet.
type Recorder struct {
	inner prometheus.Registerer

	mu         sync.Mutex
	collectors []prometheus.Collector
}

// NewRecorder records the collectors registered through it on inner.
func NewRecorder(inner prometheus.Registerer) *Recorder {
	return &Recorder{inner: inner}
}

// Register registers c on the inner Registerer and records it.
func (r *Recorder) Register(c prometheus.Collector) error {
	if err := r.inner.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, c)
	return nil
}

// MustRegister registers every collector and panics on the first error.
func (r *Recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister unregisters c from the inner Registerer and forgets it.
func (r *Recorder) Unregister(c prometheus.Collector) bool {
	if !r.inner.Unregister(c) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = slices.DeleteFunc(r.collectors, func(x prometheus.Collector) bool { return x == c })
	return true
}

// Families returns every family the recorded collectors describe, keyed by
// name, whether or not it has a sample yet.
func (r *Recorder) Families() (map[string]Family, error) {
	r.mu.Lock()
	collectors := slices.Clone(r.collectors)
	r.mu.Unlock()
	out := make(map[string]Family)
	var errs []error
	for _, c := range collectors {
		vecType := vectorType(c)
		for _, d := range describe(c) {
			name, labels, err := parseDesc(d.String())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			merge(out, Family{Name: name, Type: vecType, Labels: labels})
		}
		if vecType != "" {
			continue
		}
		for _, m := range collect(c) {
			name, _, err := parseDesc(m.Desc().String())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				errs = append(errs, fmt.Errorf("%s: write: %w", name, err))
				continue
			}
			merge(out, Family{Name: name, Type: metricType(&pb)})
		}
	}
	return out, errors.Join(errs...)
}

// Registered returns every family a binary exposes: the families of rec's
// collectors, empty vectors included, and every family g gathers (such as
// the Go and process collectors, registered before the Recorder wrapped the
// registry).
func Registered(rec *Recorder, g prometheus.Gatherer) (map[string]Family, error) {
	out, err := rec.Families()
	if err != nil {
		return nil, err
	}
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	for _, mf := range mfs {
		f := Family{Name: mf.GetName(), Type: strings.ToLower(mf.GetType().String())}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				f.Labels = append(f.Labels, lp.GetName())
			}
		}
		merge(out, f)
	}
	return out, nil
}

// Gathered returns the names of the families g gathers (those with at least
// one sample), sorted.
func Gathered(g prometheus.Gatherer) ([]string, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	sort.Strings(names)
	return names, nil
}

func merge(into map[string]Family, f Family) {
	old, ok := into[f.Name]
	if !ok {
		f.Labels = sortedSet(f.Labels)
		into[f.Name] = f
		return
	}
	if old.Type == "" {
		old.Type = f.Type
	}
	old.Labels = sortedSet(append(old.Labels, f.Labels...))
	into[f.Name] = old
}

func sortedSet(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return slices.Compact(out)
}

func describe(c prometheus.Collector) []*prometheus.Desc {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	var out []*prometheus.Desc
	for d := range ch {
		out = append(out, d)
	}
	return out
}

func collect(c prometheus.Collector) []prometheus.Metric {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var out []prometheus.Metric
	for m := range ch {
		out = append(out, m)
	}
	return out
}

// vectorType tells the type of a vector, which collects nothing until it has
// a child; "" for anything else.
func vectorType(c prometheus.Collector) string {
	switch c.(type) {
	case *prometheus.CounterVec:
		return "counter"
	case *prometheus.GaugeVec:
		return "gauge"
	case *prometheus.HistogramVec:
		return "histogram"
	case *prometheus.SummaryVec:
		return "summary"
	}
	return ""
}

func metricType(m *dto.Metric) string {
	switch {
	case m.Counter != nil:
		return "counter"
	case m.Gauge != nil:
		return "gauge"
	case m.Histogram != nil:
		return "histogram"
	case m.Summary != nil:
		return "summary"
	case m.Untyped != nil:
		return "untyped"
	}
	return ""
}

// descPattern matches prometheus.Desc.String(): fqName and help are quoted
// with %q, constant labels are name="value" pairs, variable labels are bare
// names or c(name) when constrained.
var descPattern = regexp.MustCompile(`^Desc\{fqName: "((?:[^"\\]|\\.)*)", help: "(?:[^"\\]|\\.)*", unit: "(?:[^"\\]|\\.)*", constLabels: \{(.*)\}, variableLabels: \{([^{}]*)\}\}$`)

var constLabelName = regexp.MustCompile(`(?:^|,)([a-zA-Z_][a-zA-Z0-9_]*)="`)

// parseDesc returns a descriptor's fully-qualified name and label names.
func parseDesc(s string) (string, []string, error) {
	m := descPattern.FindStringSubmatch(s)
	if m == nil {
		return "", nil, fmt.Errorf("cannot read descriptor %s", s)
	}
	var labels []string
	for _, c := range constLabelName.FindAllStringSubmatch(m[2], -1) {
		labels = append(labels, c[1])
	}
	if m[3] != "" {
		for _, v := range strings.Split(m[3], ",") {
			v = strings.TrimSuffix(strings.TrimPrefix(v, "c("), ")")
			labels = append(labels, v)
		}
	}
	return m[1], sortedSet(labels), nil
}

// Row is one metric row of the document.
type Row struct {
	// Name is the metric name; for a group, its prefix without the *.
	Name  string
	Group bool
	// Type and Labels are empty when the row does not say (a group).
	Type      string
	Labels    []string
	Binaries  []string
	Line      int
	CheckType bool
	// CheckLabels is false for a group, whose labels vary.
	CheckLabels bool
}

// Doc is the parsed metrics document.
type Doc struct {
	Path string
	Rows []Row
}

var (
	backticked = regexp.MustCompile("`([^`]+)`")
	binaryName = regexp.MustCompile(`\borderflow-(?:api|relay|projector)\b`)
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*\*?$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	knownTypes = []string{"counter", "gauge", "histogram", "summary", "untyped"}
)

// ParseDoc reads the metric tables of the document at path.
func ParseDoc(path string) (*Doc, error) {
	lines, err := mdtable.ReadLines(path)
	if err != nil {
		return nil, err
	}
	doc := &Doc{Path: path}
	var (
		errs      []error
		headings  [7][]string // binaries named by the current heading of each level
		header    []string    // the current table's header cells, lower case
		inTable   bool
		isMetrics bool
	)
	for _, l := range lines {
		line := l.Text
		if level := headingLevel(line); level > 0 {
			headings[level] = binaryName.FindAllString(line, -1)
			for l := level + 1; l < len(headings); l++ {
				headings[l] = nil
			}
			inTable = false
			continue
		}
		if !mdtable.IsRow(line) {
			inTable = false
			continue
		}
		cells := mdtable.SplitRow(line)
		if !inTable {
			inTable = true
			header = make([]string, len(cells))
			for i, c := range cells {
				header[i] = strings.ToLower(c)
			}
			isMetrics = len(header) > 0 && header[0] == "metric"
			continue
		}
		if !isMetrics || mdtable.IsSeparator(line) {
			continue
		}
		row, err := parseRow(header, cells, headings, l.No)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, l.No, err))
			continue
		}
		doc.Rows = append(doc.Rows, row)
	}
	if len(doc.Rows) == 0 {
		errs = append(errs, fmt.Errorf("%s: no metric table found", path))
	}
	seen := make(map[string]int)
	for _, r := range doc.Rows {
		for _, b := range r.Binaries {
			k := b + " " + r.Name
			if prev, ok := seen[k]; ok {
				errs = append(errs, fmt.Errorf("%s:%d: `%s` is listed for %s again (first on line %d)", path, r.Line, r.Name, b, prev))
			}
			seen[k] = r.Line
		}
	}
	return doc, errors.Join(errs...)
}

func headingLevel(line string) int {
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	if n == 0 || n >= 7 || n >= len(line) || line[n] != ' ' {
		return 0
	}
	return n
}

func column(header []string, name string) int {
	return slices.Index(header, name)
}

func parseRow(header, cells []string, headings [7][]string, line int) (Row, error) {
	if len(cells) != len(header) {
		return Row{}, fmt.Errorf("row has %d cells, its table %d", len(cells), len(header))
	}
	names := backticked.FindAllStringSubmatch(cells[0], -1)
	if len(names) != 1 || !metricName.MatchString(names[0][1]) {
		return Row{}, fmt.Errorf("first cell %q must hold one metric name in backticks", cells[0])
	}
	r := Row{Name: names[0][1], Line: line}
	if strings.HasSuffix(r.Name, "*") {
		r.Name, r.Group = strings.TrimSuffix(r.Name, "*"), true
		if strings.HasPrefix(r.Name, "orderflow_") {
			return Row{}, fmt.Errorf("`%s*`: every orderflow_ metric gets a row of its own", r.Name)
		}
	}
	if i := column(header, "type"); i >= 0 && !r.Group {
		r.Type = strings.ToLower(strings.Trim(cells[i], "` "))
		if !slices.Contains(knownTypes, r.Type) {
			return Row{}, fmt.Errorf("`%s`: type %q is not one of %v", r.Name, cells[i], knownTypes)
		}
		r.CheckType = true
	} else if !r.Group {
		return Row{}, fmt.Errorf("`%s`: the table has no type column", r.Name)
	}
	if i := column(header, "labels"); i >= 0 && !r.Group {
		for _, m := range backticked.FindAllStringSubmatch(cells[i], -1) {
			if !labelName.MatchString(m[1]) {
				return Row{}, fmt.Errorf("`%s`: labels cell may hold only label names in backticks, not `%s`", r.Name, m[1])
			}
			r.Labels = append(r.Labels, m[1])
		}
		r.Labels = sortedSet(r.Labels)
		r.CheckLabels = true
	} else if !r.Group {
		return Row{}, fmt.Errorf("`%s`: the table has no labels column", r.Name)
	}
	if i := column(header, "exposed by"); i >= 0 {
		r.Binaries = binaryName.FindAllString(cells[i], -1)
	} else {
		for l := len(headings) - 1; l > 0; l-- {
			if len(headings[l]) > 0 {
				r.Binaries = headings[l]
				break
			}
		}
	}
	r.Binaries = sortedSet(r.Binaries)
	if len(r.Binaries) == 0 {
		return Row{}, fmt.Errorf("`%s` belongs to no binary: name one of %v in its heading or its exposed-by cell", r.Name, Binaries)
	}
	return r, nil
}

// For returns the rows of binary.
func (d *Doc) For(binary string) []Row {
	var out []Row
	for _, r := range d.Rows {
		if slices.Contains(r.Binaries, binary) {
			out = append(out, r)
		}
	}
	return out
}

// Lookup finds the row documenting a metric name for any binary: the row of
// that name, else the group it falls in.
func (d *Doc) Lookup(name string) (Row, bool) {
	var group *Row
	for i, r := range d.Rows {
		if !r.Group && r.Name == name {
			return r, true
		}
		if r.Group && strings.HasPrefix(name, r.Name) && group == nil {
			group = &d.Rows[i]
		}
	}
	if group != nil {
		return *group, true
	}
	return Row{}, false
}

// Check compares the families binary registers with the document's rows
// for it, both ways, and returns every difference.
func (d *Doc) Check(binary string, registered map[string]Family) []error {
	if !slices.Contains(Binaries, binary) {
		return []error{fmt.Errorf("unknown binary %q", binary)}
	}
	rows := d.For(binary)
	exact := make(map[string]Row)
	var groups []Row
	for _, r := range rows {
		if r.Group {
			groups = append(groups, r)
		} else {
			exact[r.Name] = r
		}
	}
	var errs []error
	groupUsed := make(map[string]bool)
	names := make([]string, 0, len(registered))
	for n := range registered {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		f := registered[name]
		if r, ok := exact[name]; ok {
			if r.CheckType && f.Type != "" && r.Type != f.Type {
				errs = append(errs, fmt.Errorf("%s:%d: `%s` is documented as a %s but %s registers a %s", d.Path, r.Line, name, r.Type, binary, f.Type))
			}
			if r.CheckLabels && !slices.Equal(r.Labels, f.Labels) {
				errs = append(errs, fmt.Errorf("%s:%d: `%s` is documented with labels %v but %s registers it with %v", d.Path, r.Line, name, r.Labels, binary, f.Labels))
			}
			continue
		}
		matched := false
		for _, g := range groups {
			if strings.HasPrefix(name, g.Name) {
				groupUsed[g.Name] = true
				matched = true
				break
			}
		}
		if !matched {
			errs = append(errs, fmt.Errorf("%s registers `%s` (%s, labels %v), which %s does not list for it", binary, name, f.Type, f.Labels, d.Path))
		}
	}
	for _, r := range rows {
		if r.Group {
			if !groupUsed[r.Name] {
				errs = append(errs, fmt.Errorf("%s:%d: `%s*` is listed for %s, which registers no such metric", d.Path, r.Line, r.Name, binary))
			}
			continue
		}
		if _, ok := registered[r.Name]; !ok {
			errs = append(errs, fmt.Errorf("%s:%d: `%s` is listed for %s, which does not register it", d.Path, r.Line, r.Name, binary))
		}
	}
	return errs
}

// Root returns the module root: the closest directory above the working
// directory that holds go.mod.
func Root() (string, error) {
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

// CheckBinary parses the document under the module root and checks the
// families binary registers: rec's collectors and whatever g gathers.
func CheckBinary(binary string, rec *Recorder, g prometheus.Gatherer) []error {
	root, err := Root()
	if err != nil {
		return []error{err}
	}
	doc, err := ParseDoc(filepath.Join(root, DocPath))
	if err != nil {
		return []error{err}
	}
	registered, err := Registered(rec, g)
	if err != nil {
		return []error{err}
	}
	return doc.Check(binary, registered)
}

// metricToken finds metric names in a PromQL expression. Label values that
// name jobs use hyphens ("orderflow-api") and stream keys colons, so
// neither matches.
var metricToken = regexp.MustCompile(`\b(?:orderflow|go|process)_[a-zA-Z0-9_]*[a-zA-Z0-9]\b`)

// Exprs returns every "expr" string of a Grafana dashboard, anywhere in it.
func Exprs(dashboard []byte) ([]string, error) {
	var v any
	if err := json.Unmarshal(dashboard, &v); err != nil {
		return nil, err
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if s, ok := v[k].(string); ok && k == "expr" {
					out = append(out, s)
					continue
				}
				walk(v[k])
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return out, nil
}

// CheckExprs requires every metric an expression names to be in the
// document: a documented name, a documented histogram's _bucket, _sum or
// _count series, or a name of a documented group (go_*, process_*).
func (d *Doc) CheckExprs(exprs []string) []error {
	var errs []error
	for _, e := range exprs {
		for _, tok := range metricToken.FindAllString(e, -1) {
			if _, ok := d.resolve(tok); !ok {
				errs = append(errs, fmt.Errorf("query %q uses `%s`, which %s does not document", e, tok, d.Path))
			}
		}
	}
	return errs
}

func (d *Doc) resolve(tok string) (Row, bool) {
	if r, ok := d.Lookup(tok); ok {
		return r, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(tok, suffix)
		if !ok {
			continue
		}
		if r, ok := d.Lookup(base); ok && !r.Group && (r.Type == "histogram" || (r.Type == "summary" && suffix != "_bucket")) {
			return r, true
		}
	}
	return Row{}, false
}
