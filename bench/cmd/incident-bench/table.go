package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printTable writes rows under a header, columns aligned. Numeric columns
// are right-aligned so that magnitudes line up when read down a column.
func printTable(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(cells []string) {
		// The first column is a label: pad it by hand so AlignRight leaves
		// it flush left.
		out := make([]string, len(cells))
		copy(out, cells)
		out[0] = fmt.Sprintf("%-*s", labelWidth(header, rows), out[0])
		fmt.Fprintln(tw, strings.Join(out, "\t")+"\t")
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	_ = tw.Flush()
}

func labelWidth(header []string, rows [][]string) int {
	w := len([]rune(header[0]))
	for _, r := range rows {
		w = max(w, len([]rune(r[0])))
	}
	return w
}

// statsRow is one measure as a table row: count, then p50, p95, p99 and max
// with one decimal, or "-" when there are no samples.
func statsRow(label string, s stats) []string {
	if s.Count == 0 {
		return []string{label, "0", "-", "-", "-", "-"}
	}
	f := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	return []string{label, fmt.Sprint(s.Count), f(s.P50), f(s.P95), f(s.P99), f(s.Max)}
}

// statsHeader goes with statsRow.
func statsHeader(label string) []string {
	return []string{label, "count", "p50 ms", "p95 ms", "p99 ms", "max ms"}
}
