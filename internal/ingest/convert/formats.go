package convert

// Date formats (ADR-023 "Date formats"). DuckDB's CSV sniffer picks one
// date and one timestamp format per file, and when every value reads
// either way (01/02/2024) it prefers day first. A dataset created from
// "12/25/2024" (month first) would then get an append of "01/02/2024"
// stored as 1 February. So a created dataset records the formats its
// CSV was read with, when day and month are the ambiguous pair; an append
// whose own sniffed format is that format with day and month swapped is
// read with the dataset's instead — its values then either read as the
// dataset's dates or are refused with their line. An append in another,
// unambiguous notation (ISO 8601) is read as it is.

import (
	"context"
	"database/sql"
	"strings"
)

// ambiguousFormat says whether a sniffed strptime format orders day and
// month so that a swapped reading exists (not year first).
func ambiguousFormat(f string) bool {
	return strings.Contains(f, "%d") && strings.Contains(f, "%m") &&
		!strings.HasPrefix(f, "%Y") && !strings.HasPrefix(f, "%y")
}

// swapDayMonth turns %d into %m and %m into %d.
func swapDayMonth(f string) string {
	return strings.NewReplacer("%d", "%m", "%m", "%d").Replace(f)
}

// sniffFormats asks DuckDB's sniffer which date and timestamp formats it
// would read path with ("" for none).
// The answer is kept in h for its line size and sample: a create asks
// once for the conversion's query (csvQuery) and again for the formats it
// records (recordFormats), of the same file with the same options — a
// second sniff of the sample that answered the same.
func (c *Converter) sniffFormats(ctx context.Context, path string, h *csvHeader, maxLine int, fullSniff bool) (date, timestamp string, err error) {
	key := sniffKey{maxLine, fullSniff}
	if f, ok := h.sniffed[key]; ok {
		return f[0], f[1], nil
	}
	q := "SELECT DateFormat, TimestampFormat FROM sniff_csv(" + sqlString(path) + csvDialect(h, maxLine)
	if fullSniff {
		q += ", sample_size = -1"
	}
	c.sniffs.Add(1)
	var d, ts sql.NullString
	if err := c.db.QueryRowContext(ctx, q+")").Scan(&d, &ts); err != nil {
		return "", "", err
	}
	if h.sniffed == nil {
		h.sniffed = map[sniffKey][2]string{}
	}
	h.sniffed[key] = [2]string{d.String, ts.String}
	return d.String, ts.String, nil
}

// sniffKey is what a sniff of one file depends on besides the dialect.
type sniffKey struct {
	maxLine   int
	fullSniff bool
}

// isType says whether a column type is t (DuckDB spelling, any case).
func isType(typ, t string) bool { return strings.EqualFold(strings.TrimSpace(typ), t) }

// datasetFormat returns the format of the dataset's first column of type t.
func datasetFormat(schema []Column, t string) string {
	for _, col := range schema {
		if isType(col.Type, t) && col.Format != "" {
			return col.Format
		}
	}
	return ""
}

// appendFormats sets h's forced formats for an append: the dataset's
// format where the batch alone would be read with day and month swapped;
// and records the batch's own formats (temporal.go).
// A batch the sniffer cannot read is left to the conversion to report.
func (c *Converter) appendFormats(ctx context.Context, in Input, h *csvHeader) error {
	df, tf := datasetFormat(in.Schema, "DATE"), datasetFormat(in.Schema, "TIMESTAMP")
	var dated bool
	for _, col := range in.Schema {
		dated = dated || isType(col.Type, "DATE") || isType(col.Type, "TIMESTAMP") || isType(col.Type, "TIMESTAMP_NS")
	}
	if !dated {
		return nil
	}
	bd, bt, err := c.sniffFormats(ctx, in.Path, h, defaultMaxLine, false)
	if err != nil && ctx.Err() == nil && strings.Contains(rawMessage(err), "Maximum line size") {
		bd, bt, err = c.sniffFormats(ctx, in.Path, h, c.opts.MaxLineBytes, false)
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return nil
	}
	// The reader parses ISO 8601 itself when the batch's format is
	// (temporal.go reads such columns as text).
	h.batchDate, h.batchTimestamp, h.batchSniffed = bd, bt, true
	if df != "" && bd != "" && bd != df && bd == swapDayMonth(df) {
		h.dateFormat = df
	}
	if tf != "" && bt != "" && bt != tf && bt == swapDayMonth(tf) {
		h.timestampFormat = tf
	}
	return nil
}

// recordFormats fills the Format of res's DATE and TIMESTAMP columns: on
// append the dataset's; on create the ambiguous formats the sniffer read
// the file with (the run that succeeded: its line size and sample).
func (c *Converter) recordFormats(ctx context.Context, in Input, h *csvHeader, res *Result, maxLine int, fullSniff bool) error {
	if in.Schema != nil {
		for i := range res.Schema {
			if i < len(in.Schema) && in.Schema[i].Name == res.Schema[i].Name {
				res.Schema[i].Format = in.Schema[i].Format
			}
		}
		return nil
	}
	var dated bool
	for _, col := range res.Schema {
		dated = dated || isType(col.Type, "DATE") || isType(col.Type, "TIMESTAMP")
	}
	if !dated {
		return nil
	}
	d, ts, err := c.sniffFormats(ctx, in.Path, h, maxLine, fullSniff)
	if err != nil {
		return err
	}
	for i, col := range res.Schema {
		switch {
		case isType(col.Type, "DATE") && ambiguousFormat(d):
			res.Schema[i].Format = d
		case isType(col.Type, "TIMESTAMP") && ambiguousFormat(ts):
			res.Schema[i].Format = ts
		}
	}
	return nil
}
