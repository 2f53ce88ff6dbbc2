// Package mdtable reads rows of the Markdown tables that document OrderFlow
// (the metrics reference, the configuration table), for the tests that keep
// those documents true to the binaries.
package mdtable

import "strings"

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
