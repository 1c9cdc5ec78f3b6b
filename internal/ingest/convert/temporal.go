package convert

// Time zones and time parts (ADR-023 "Strict values"). DuckDB's cast of
// text to TIMESTAMP, TIME or DATE — which its CSV reader uses for ISO 8601
// values — drops what the type cannot hold without a word:
// "2024-01-01 10:00:00+05:00" into TIMESTAMP is 10:00 (another instant),
// "10:00:00+05" into TIME is 10:00:00, "2024-01-01 23:59:59+09" into
// DATE is 2024-01-01. Such columns (the dataset's on append, DuckDB's
// sniffed ones on create) are read as text when the reader would parse
// them as ISO 8601 (no strptime format: a format refuses a zone itself)
// and cast in the projection; a value with a time zone offset other than
// zero, or a DATE value with a time of day other than midnight, is
// refused with its line ("zone"/"time" tags). A zero offset (Z, +00,
// +00:00, UTC) and a midnight time are kept: the stored value is the
// instant or day written. On create a refused value makes the column the
// type DuckDB's sniffer gives such values inside its sample (promotion):
// TIMESTAMP WITH TIME ZONE for a TIMESTAMP, VARCHAR for a DATE or TIME.
//
// Sub-microsecond digits: the cast to TIMESTAMP keeps 6 fractional digits
// and cuts the rest (.123456789 is .123456). A value with a non-zero digit
// past the 6th ("nanos" tag) makes a created column TIMESTAMP_NS (the file
// is read again) and is refused with its line on append into a TIMESTAMP
// column; TIMESTAMP_NS columns are checked the same way past 9 digits.

import (
	"fmt"
	"strings"
)

// temporalType says whether a column of type t is a DATE, TIME or
// TIMESTAMP (no zone) and returns its canonical name.
func temporalType(t string) (string, bool) {
	switch u := strings.ToUpper(strings.TrimSpace(t)); u {
	case "DATE", "TIME", "TIMESTAMP", "TIMESTAMP_NS":
		return u, true
	}
	return "", false
}

// isoFormat says whether a sniffed or forced strptime format leaves the
// reader parsing ISO 8601 as the cast does ("" or year-month-day first).
func isoFormat(f string) bool { return f == "" || strings.HasPrefix(f, "%Y-%m-%d") }

// temporalColumnSQL is the projection of the DATE, TIME or TIMESTAMP
// column i read as text (c<i>, v<i> its TRY_CAST to typ).
func temporalColumnSQL(i int, typ string) string {
	c, v := fmt.Sprintf("c%d", i), fmt.Sprintf("v%d", i)
	tag := func(kind string) string {
		return fmt.Sprintf("error(%s || %s)", sqlString(fmt.Sprintf("%s%d:%s:%s:", badValueTag, i, kind, typ)), c)
	}
	// The text after an ISO date holds a zone when it has a sign, a Z or
	// a word (UTC, a zone name).
	zoned := fmt.Sprintf(`regexp_matches(regexp_replace(%s, '^\s*[0-9]+-[0-9]+-[0-9]+', ''), '[+zZ-]|[A-Za-z]{2}')`, c)
	zeroOffset := func(text, naive string) string {
		return fmt.Sprintf("epoch_us(TRY_CAST(%s AS TIMESTAMP WITH TIME ZONE)) IS NOT DISTINCT FROM epoch_us(%s)", text, naive)
	}
	switch typ {
	case "TIMESTAMP", "TIMESTAMP_NS":
		// More fractional digits than the type keeps, not all zeros, are
		// cut by the cast (.123456789 is .123456 in a TIMESTAMP).
		digits := 6
		if typ == "TIMESTAMP_NS" {
			digits = 9
		}
		cut := fmt.Sprintf(`regexp_matches(%s, '\.[0-9]{%d}[0-9]*[1-9]')`, c, digits)
		return fmt.Sprintf("CASE WHEN %[1]s IS NULL THEN NULL WHEN %[2]s IS NULL THEN %[3]s WHEN %[2]s::VARCHAR = %[1]s THEN %[2]s WHEN %[7]s THEN %[8]s WHEN NOT %[4]s OR %[5]s THEN %[2]s ELSE %[6]s END",
			c, v, tag("invalid"), zoned, zeroOffset(c, v), tag("zone"), cut, tag("nanos"))
	case "TIME":
		day := "'2000-01-01 ' || " + c
		return fmt.Sprintf("CASE WHEN %[1]s IS NULL THEN NULL WHEN %[2]s IS NULL THEN %[3]s WHEN %[2]s::VARCHAR = %[1]s OR NOT %[4]s OR %[5]s THEN %[2]s ELSE %[6]s END",
			c, v, tag("invalid"), zoned, zeroOffset(day, "TRY_CAST("+day+" AS TIMESTAMP)"), tag("zone"))
	}
	// DATE's cast takes surrounding blanks that TIMESTAMP's refuses
	// ('2024-01-01 '): the time-of-day check reads the trimmed text.
	trimmed := fmt.Sprintf(`regexp_replace(%s, '^\s+|\s+$', '', 'g')`, c)
	ts := "TRY_CAST(" + trimmed + " AS TIMESTAMP)"
	return fmt.Sprintf("CASE WHEN %[1]s IS NULL THEN NULL WHEN %[2]s IS NULL THEN %[3]s WHEN %[2]s::VARCHAR = %[1]s THEN %[2]s WHEN %[4]s IS DISTINCT FROM %[2]s::TIMESTAMP THEN %[5]s WHEN NOT %[6]s OR %[7]s THEN %[2]s ELSE %[8]s END",
		c, v, tag("invalid"), ts, tag("time"), zoned, zeroOffset(trimmed, ts), tag("zone"))
}

// promotion is the type a created column takes when the strict cast
// refused one of its values (kind zone or time): the sniffer's choice
// for such values inside its sample.
func promotion(typ string) string {
	if typ == "TIMESTAMP" {
		return "TIMESTAMP WITH TIME ZONE"
	}
	return "VARCHAR"
}
