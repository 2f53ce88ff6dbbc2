// Package mdtable reads rows of the Markdown tables that document OrderFlow
// (the metrics reference, the configuration table), for the tests that keep
// those documents true to the binaries.
package mdtable

import (
	"bufio"
	"os"
	"regexp"
	"strings"
)

// Line is a line of a Markdown file outside code fences, trimmed, with its
// 1-based number.
type Line struct {
	No   int
	Text string
}

// ReadLines returns the lines of the Markdown file at path that are not in
// a fenced code block (nor a fence themselves): a table shown as an example
// inside a fence is not a table of the document.
func ReadLines(path string) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		lines []Line
		fence bool
		no    int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		no++
		text := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(text, "```") {
			fence = !fence
			continue
		}
		if !fence {
			lines = append(lines, Line{No: no, Text: text})
		}
	}
	return lines, sc.Err()
}

// IsRow reports whether a trimmed line is a table row.
func IsRow(line string) bool { return strings.HasPrefix(line, "|") }

var separator = regexp.MustCompile(`^\|[\s:|-]+\|$`)

// IsSeparator reports whether a table row is the header's separator, "|---|:-:|".
func IsSeparator(line string) bool { return separator.MatchString(line) }

// SplitRow returns the trimmed cells of a table row such as "| a | `b|c` |".
// Backticked text may hold a | (a PromQL regexp, a flag's choices), so the
// row is split outside backticks only.
func SplitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cur strings.Builder
	inCode := false
	for _, r := range line {
		switch {
		case r == '`':
			inCode = !inCode
			cur.WriteRune(r)
		case r == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}
