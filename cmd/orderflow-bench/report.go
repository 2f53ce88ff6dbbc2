package main

// One concept, the report: its rows, notes and environment, printed as a
// table and written as Markdown and JSON. The three renderings must agree,
// so they stay in one file past 400 lines.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is the results of one run of one suite or of all of them: what was
// measured, against which baseline, on which machine, and how to measure it
// again. It is printed as a table and written as Markdown and JSON.
type Report struct {
	Suite   string    `json:"suite"`
	Date    time.Time `json:"date"`
	Quick   bool      `json:"quick"`
	Command string    `json:"command"`
	// Code is the commit measured, "with uncommitted changes" when the
	// working tree differed from it.
	Code string `json:"code"`
	// Elapsed is each suite's wall time, then the total.
	Elapsed  []Setting `json:"elapsed"`
	Machine  Machine   `json:"machine"`
	Settings []Setting `json:"settings"`
	Rows     []Row     `json:"rows"`
	Notes    []Note    `json:"notes,omitempty"`

	// section is the suite now adding rows and notes.
	section string
}

// Note is a sentence under the table about one suite's figures.
type Note struct {
	Section string `json:"section,omitempty"`
	Text    string `json:"text"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs       int    `json:"cpus"`
	Model      string `json:"model"`
	Go         string `json:"go"`
	Platform   string `json:"platform"`
	PostgreSQL string `json:"postgresql"`
	Redis      string `json:"redis"`
	// LoadAverage is /proc/loadavg's 1, 5 and 15 minute figures at the
	// start: other work on a shared machine shows here.
	LoadAverage string `json:"loadAverage"`
}

func (m Machine) summary() string {
	return fmt.Sprintf("%d CPUs (%s), %s %s, load average %s", m.CPUs, m.Model, m.Go, m.Platform, m.LoadAverage)
}

// Setting is one setting of the run, in the order it is printed.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Quantity is a measured value with its unit: "tx/s", "orders/s", "ms",
// "µs", "%", "MiB", perHundredReads, or "" for a count.
type Quantity struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

func (q Quantity) String() string {
	v := q.Value
	switch q.Unit {
	case "ms":
		if v < 10 {
			return fmt.Sprintf("%.2f ms", v)
		}
		return fmt.Sprintf("%.1f ms", v)
	case "s":
		return fmt.Sprintf("%.1f s", v)
	case "%":
		// Near 100 % a tenth matters: a hit ratio of 98.6 % misses ≥ 99 %.
		if v < 10 || v >= 90 && v < 100 {
			return fmt.Sprintf("%.1f %%", v)
		}
		return fmt.Sprintf("%.0f %%", v)
	case perHundredReads:
		if v < 10 {
			return fmt.Sprintf("%.2f %s", v, q.Unit)
		}
		return fmt.Sprintf("%.1f %s", v, q.Unit)
	case "":
		return thousands(v)
	default:
		return thousands(v) + " " + q.Unit
	}
}

// perHundredReads is the unit of a count per 100 reads, printed with
// decimals: a well-cached mix costs well under one query per 100 reads.
const perHundredReads = "per 100 reads"

// thousands rounds v and groups its digits: 12345.6 -> "12,346".
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", math.Abs(v))
	var b strings.Builder
	if v < 0 && s != "0" {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Baseline is what a figure is compared with, measured in the same run.
type Baseline struct {
	Figure string `json:"figure"`
	Quantity
}

// Goal is a bound on a row's ratio, or on its value when there is no baseline.
type Goal struct {
	Of     string  `json:"of"` // "ratio" or "value"
	Op     string  `json:"op"` // ">=", "<=" or "=="
	Target float64 `json:"target"`
	// Correctness marks a goal that a busy or slow machine cannot excuse
	// (a failed request, a lost event, a stale read): missing one makes the
	// run fail. Speed goals are reported only, since a shared machine can
	// miss them through no fault of the code.
	Correctness bool `json:"correctness,omitempty"`
}

func (g Goal) String() string {
	op := map[string]string{">=": "≥", "<=": "≤", "==": "="}[g.Op]
	target := fmt.Sprintf("%g", g.Target)
	if g.Of == "value" && g.Target >= 1000 {
		target = thousands(g.Target)
	}
	return op + " " + target
}

func (g Goal) met(v float64) bool {
	switch g.Op {
	case ">=":
		return v >= g.Target
	case "<=":
		return v <= g.Target
	default:
		return v == g.Target
	}
}

// Row is one line of the table.
type Row struct {
	// Section is the suite that measured the row.
	Section  string    `json:"section,omitempty"`
	Figure   string    `json:"figure"`
	Value    Quantity  `json:"value"`
	Baseline *Baseline `json:"baseline,omitempty"`
	// Ratio is Value / Baseline.
	Ratio *float64 `json:"ratio,omitempty"`
	Goal  *Goal    `json:"goal,omitempty"`
	// GoalRatio is Value / Goal.Target for a bound on the value: how far
	// from its goal a figure is.
	GoalRatio *float64 `json:"goalRatio,omitempty"`
	Met       *bool    `json:"met,omitempty"`
}

// figure starts a row.
func figure(name string, value float64, unit string) Row {
	return Row{Figure: name, Value: Quantity{Value: value, Unit: unit}}
}

// against sets the row's baseline and their ratio.
func (r Row) against(base Row) Row {
	r.Baseline = &Baseline{Figure: base.Figure, Quantity: base.Value}
	r.Ratio = nil
	if base.Value.Value != 0 {
		ratio := r.Value.Value / base.Value.Value
		r.Ratio = &ratio
	}
	return r
}

// goal bounds the row's ratio (of "ratio") or value (of "value").
func (r Row) goal(of, op string, target float64) Row {
	g := Goal{Of: of, Op: op, Target: target}
	r.Goal = &g
	v, ok := r.Value.Value, true
	if of == "ratio" {
		ok = r.Ratio != nil
		if ok {
			v = *r.Ratio
		}
	}
	met := ok && g.met(v)
	r.Met = &met
	if of == "value" && op != "==" && target != 0 {
		gr := r.Value.Value / target
		r.GoalRatio = &gr
	}
	return r
}

// correct sets a correctness goal: the row's value must equal target.
func (r Row) correct(target float64) Row {
	r = r.goal("value", "==", target)
	r.Goal.Correctness = true
	return r
}

// formatRatio prints a ratio with two decimals, or two significant digits
// when it is small.
func formatRatio(v float64) string {
	if v != 0 && math.Abs(v) < 0.1 {
		return fmt.Sprintf("%.2g", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func newReport(suite string, c Config, started time.Time) *Report {
	r := &Report{
		Suite:   suite,
		Date:    started.UTC().Truncate(time.Second),
		Quick:   c.Quick,
		Command: c.reproduceCommand(suite),
		Settings: []Setting{
			{"clients", fmt.Sprint(c.Clients)},
			{"phase", fmt.Sprintf("%s in %d rounds", c.Duration(), c.Rounds())},
			{"pool", fmt.Sprintf("%d connections", c.DatabaseConns)},
		},
	}
	runs := func(name string) bool { return suite == allSuites || suite == name }
	if runs("write") {
		r.Settings = append(r.Settings,
			Setting{"long stream", thousands(float64(c.LongStream())) + " events"},
			Setting{"loads", fmt.Sprintf("%s per product within %s", thousands(float64(c.LoadIterations())), c.LoadBudget())})
	}
	if runs("read") {
		r.Settings = append(r.Settings, Setting{"stampede", fmt.Sprintf("%s GETs on each of %d cold keys", thousands(float64(c.StampedeGets)), c.StampedeKeys())})
	}
	if runs("relay") {
		r.Settings = append(r.Settings, Setting{"relay backlog", thousands(float64(c.RelayBacklog())) + " events"})
	}
	if runs("projector") {
		r.Settings = append(r.Settings, Setting{"projector log", thousands(float64(c.ProjectorLog())) + " events"})
	}
	if runs("mix") {
		rate := "half the uncached maximum"
		if c.MixRequestRate() > 0 {
			rate = thousands(c.MixRequestRate()) + "/s"
		}
		r.Settings = append(r.Settings, Setting{"mix", fmt.Sprintf("%s products, %s customers, closed-loop maximum for %s after a warm-up of %s and a search of the clients (%s a step), then %s for %s after a warm-up of %s, then a race of %s, uncached, cached, then cached with the near cache",
			thousands(float64(c.MixProducts())), thousands(float64(c.MixCustomers())), mixMaxWindow(c), c.MixWarmup(), mixMaxStep(c), rate, c.Mix(), c.MixWarmup(), c.MixRace())})
	}
	if runs("relay") || runs("projector") {
		r.Settings = append(r.Settings, Setting{"open loop", fmt.Sprintf("%s at half the rate found in %s", c.OpenLoop(), c.Calibration())})
	}
	return r
}

// add appends rows to the current suite's section.
func (r *Report) add(rows ...Row) {
	for _, row := range rows {
		row.Section = r.section
		r.Rows = append(r.Rows, row)
	}
}

// note adds a sentence about the current suite's figures.
func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, Note{Section: r.section, Text: fmt.Sprintf(format, args...)})
}

// sections lists the sections of the rows in order of appearance.
func (r *Report) sections() []string {
	var out []string
	for _, row := range r.Rows {
		if len(out) == 0 || out[len(out)-1] != row.Section {
			out = append(out, row.Section)
		}
	}
	return out
}

// notesText is the notes as list items, grouped by section when there are several.
func (r *Report) notesText() string {
	var b strings.Builder
	several := len(r.sections()) > 1
	for _, n := range r.Notes {
		if several && n.Section != "" {
			fmt.Fprintf(&b, "- %s: %s\n", n.Section, n.Text)
		} else {
			fmt.Fprintf(&b, "- %s\n", n.Text)
		}
	}
	return b.String()
}

func (r *Report) elapsedLine() string {
	parts := make([]string, len(r.Elapsed))
	for i, s := range r.Elapsed {
		parts[i] = s.Name + " " + s.Value
	}
	return strings.Join(parts, ", ")
}

func (r *Report) settingsLine() string {
	parts := make([]string, len(r.Settings))
	for i, s := range r.Settings {
		parts[i] = s.Name + " " + s.Value
	}
	return strings.Join(parts, ", ")
}

// goalsMet counts the rows with a goal and those that met it.
func (r *Report) goalsMet() (met, goals int) {
	return r.countGoals(func(Goal) bool { return true })
}

// correctnessMet counts the rows with a correctness goal and those that met it.
func (r *Report) correctnessMet() (met, goals int) {
	return r.countGoals(func(g Goal) bool { return g.Correctness })
}

func (r *Report) countGoals(counts func(Goal) bool) (met, goals int) {
	for _, row := range r.Rows {
		if row.Met != nil && row.Goal != nil && counts(*row.Goal) {
			goals++
			if *row.Met {
				met++
			}
		}
	}
	return met, goals
}

// failedCorrectness lists the rows whose correctness goal was missed.
func (r *Report) failedCorrectness() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Goal != nil && row.Goal.Correctness && row.Met != nil && !*row.Met {
			out = append(out, row)
		}
	}
	return out
}

// correctnessError names every missed correctness goal, one per line, or is
// nil when none was missed.
func (r *Report) correctnessError() error {
	failed := r.failedCorrectness()
	if len(failed) == 0 {
		return nil
	}
	errs := []error{fmt.Errorf("%d correctness goal(s) missed", len(failed))}
	for _, row := range failed {
		name := row.Figure
		if !strings.HasPrefix(name, row.Section) {
			name = row.Section + ": " + name
		}
		errs = append(errs, fmt.Errorf("  correctness goal missed: %s is %s, goal %s", name, row.Value, row.Goal))
	}
	return errors.Join(errs...)
}

// table renders the rows as a Markdown table padded for a terminal.
func (r *Report) table() string {
	header := []string{"figure", "value", "baseline", "ratio", "goal", "met"}
	right := []bool{false, true, true, true, false, false}
	cells := [][]string{header}
	several := len(r.sections()) > 1
	for i, row := range r.Rows {
		if several && (i == 0 || r.Rows[i-1].Section != row.Section) {
			cells = append(cells, []string{"**" + row.Section + "**", "", "", "", "", ""})
		}
		line := []string{row.Figure, row.Value.String(), "", "", "", ""}
		if row.Baseline != nil {
			line[2] = row.Baseline.Quantity.String()
		}
		if row.Ratio != nil {
			line[3] = formatRatio(*row.Ratio)
		}
		if row.Goal != nil {
			line[4] = row.Goal.String()
			if row.Goal.Of == "value" && row.Value.Unit != "" {
				line[4] += " " + row.Value.Unit
			}
			if row.GoalRatio != nil {
				line[4] += " (" + formatRatio(*row.GoalRatio) + "×)"
			}
		}
		if row.Met != nil {
			line[5] = map[bool]string{true: "yes", false: "**NO**"}[*row.Met]
		}
		cells = append(cells, line)
	}
	width := make([]int, len(header))
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], utf8.RuneCountInString(c), 3)
		}
	}
	var b strings.Builder
	writeLine := func(line []string) {
		b.WriteString("|")
		for i, c := range line {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if right[i] {
				b.WriteString(" " + pad + c + " |")
			} else {
				b.WriteString(" " + c + pad + " |")
			}
		}
		b.WriteString("\n")
	}
	writeLine(cells[0])
	b.WriteString("|")
	for i := range header {
		if right[i] {
			b.WriteString(" " + strings.Repeat("-", width[i]-1) + ": |")
		} else {
			b.WriteString(" " + strings.Repeat("-", width[i]) + " |")
		}
	}
	b.WriteString("\n")
	for _, line := range cells[1:] {
		writeLine(line)
	}
	return b.String()
}

// markdown is the report as a results file.
func (r *Report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# orderflow-bench %s — %s\n\n", r.Suite, r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Reproduce: `%s` (took %s)\n\n", r.Command, r.elapsedLine())
	fmt.Fprintf(&b, "- Code: %s\n", r.Code)
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s; load average at start %s\n", r.Machine.CPUs, r.Machine.Model, r.Machine.LoadAverage)
	fmt.Fprintf(&b, "- Software: %s %s, %s, %s\n", r.Machine.Go, r.Machine.Platform, r.Machine.PostgreSQL, r.Machine.Redis)
	fmt.Fprintf(&b, "- Settings: %s\n\n", r.settingsLine())
	b.WriteString(r.table())
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		b.WriteString(r.notesText())
	}
	return b.String()
}

// publish prints the table and writes the result files into dir ("" for none).
func (r *Report) publish(out io.Writer, dir string) error {
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "\n%s\n", r.table())
	w.WriteString(r.notesText())
	met, goals := r.goalsMet()
	cmet, cgoals := r.correctnessMet()
	fmt.Fprintf(w, "\nGoals met: %d of %d (correctness: %d of %d). Took %s. Code: %s. Machine: %s; %s; %s.\n", met, goals, cmet, cgoals, r.elapsedLine(), r.Code, r.Machine.summary(), r.Machine.PostgreSQL, r.Machine.Redis)
	if dir != "" {
		base := filepath.Join(dir, r.Date.Local().Format("2006-01-02")+"-"+r.Suite)
		if r.Quick {
			base += "-quick"
		}
		if err := r.write(base); err != nil {
			return err
		}
		fmt.Fprintf(w, "Results: %s.md, %s.json\n", base, base)
	}
	fmt.Fprintf(w, "Reproduce: %s\n", r.Command)
	return w.Flush()
}

func (r *Report) write(base string) error {
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(base+".json", js.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.WriteFile(base+".md", []byte(r.markdown()), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// codeVersion names the commit of the working tree the binaries were built
// from (make bench builds them first), or "unknown" outside a git checkout.
func codeVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	v := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		v += " with uncommitted changes"
	}
	return v
}

// probeMachine describes this machine; what cannot be read stays "unknown".
func probeMachine() Machine {
	m := Machine{
		CPUs:        runtime.NumCPU(),
		Model:       "unknown",
		Go:          runtime.Version(),
		Platform:    runtime.GOOS + "/" + runtime.GOARCH,
		LoadAverage: "unknown",
	}
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(info)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if avg, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(avg)); len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	return m
}
