package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is one suite's results: what was measured, against which baseline,
// on which machine, and how to measure it again. It is printed as a table
// and written as Markdown and JSON.
type Report struct {
	Suite    string    `json:"suite"`
	Date     time.Time `json:"date"`
	Quick    bool      `json:"quick"`
	Command  string    `json:"command"`
	Elapsed  string    `json:"elapsed"`
	Machine  Machine   `json:"machine"`
	Settings []Setting `json:"settings"`
	Rows     []Row     `json:"rows"`
	Notes    []string  `json:"notes,omitempty"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs       int    `json:"cpus"`
	Model      string `json:"model"`
	Go         string `json:"go"`
	Platform   string `json:"platform"`
	PostgreSQL string `json:"postgresql"`
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
// "µs", "%", "MiB", or "" for a count.
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
	case "%":
		if v < 10 {
			return fmt.Sprintf("%.1f %%", v)
		}
		return fmt.Sprintf("%.0f %%", v)
	case "":
		return thousands(v)
	default:
		return thousands(v) + " " + q.Unit
	}
}

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
	Figure   string    `json:"figure"`
	Value    Quantity  `json:"value"`
	Baseline *Baseline `json:"baseline,omitempty"`
	// Ratio is Value / Baseline.
	Ratio *float64 `json:"ratio,omitempty"`
	Goal  *Goal    `json:"goal,omitempty"`
	Met   *bool    `json:"met,omitempty"`
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
	return r
}

func newReport(suite string, c Config, started time.Time) *Report {
	return &Report{
		Suite:   suite,
		Date:    started.UTC().Truncate(time.Second),
		Quick:   c.Quick,
		Command: c.reproduceCommand(),
		Settings: []Setting{
			{"clients", fmt.Sprint(c.Clients)},
			{"phase", fmt.Sprintf("%s in %d rounds", c.Duration(), c.Rounds())},
			{"pool", fmt.Sprintf("%d connections", c.DatabaseConns)},
			{"long stream", thousands(float64(c.LongStream())) + " events"},
			{"loads", fmt.Sprintf("%s per product within %s", thousands(float64(c.LoadIterations())), c.LoadBudget())},
		},
	}
}

func (r *Report) add(rows ...Row) { r.Rows = append(r.Rows, rows...) }

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
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
	for _, row := range r.Rows {
		if row.Met != nil {
			goals++
			if *row.Met {
				met++
			}
		}
	}
	return met, goals
}

// table renders the rows as a Markdown table padded for a terminal.
func (r *Report) table() string {
	header := []string{"figure", "value", "baseline", "ratio", "goal", "met"}
	right := []bool{false, true, true, true, false, false}
	cells := [][]string{header}
	for _, row := range r.Rows {
		line := []string{row.Figure, row.Value.String(), "", "", "", ""}
		if row.Baseline != nil {
			line[2] = row.Baseline.Quantity.String()
		}
		if row.Ratio != nil {
			line[3] = fmt.Sprintf("%.2f", *row.Ratio)
		}
		if row.Goal != nil {
			line[4] = row.Goal.String()
			if row.Goal.Of == "value" && row.Value.Unit != "" {
				line[4] += " " + row.Value.Unit
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
	fmt.Fprintf(&b, "Reproduce: `%s` (took %s)\n\n", r.Command, r.Elapsed)
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s; load average at start %s\n", r.Machine.CPUs, r.Machine.Model, r.Machine.LoadAverage)
	fmt.Fprintf(&b, "- Software: %s %s, %s\n", r.Machine.Go, r.Machine.Platform, r.Machine.PostgreSQL)
	fmt.Fprintf(&b, "- Settings: %s\n\n", r.settingsLine())
	b.WriteString(r.table())
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range r.Notes {
			b.WriteString("- " + n + "\n")
		}
	}
	return b.String()
}

// publish prints the table and writes the result files into dir ("" for none).
func (r *Report) publish(out io.Writer, dir string) error {
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "\n%s\n", r.table())
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	met, goals := r.goalsMet()
	fmt.Fprintf(w, "\nGoals met: %d of %d. Machine: %s; %s.\n", met, goals, r.Machine.summary(), r.Machine.PostgreSQL)
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
