package observer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/shared"
)

// maxPathBody bounds the copy of an ingest body kept for eventPaths: a
// batch of MaxBatch events with full attrs is about 5 MiB; a larger body
// keeps encoding/json's message.
const maxPathBody = 16 << 20

// capBuffer keeps what is written to it up to max bytes; over reports
// that more came (and the copy is incomplete).
type capBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if !c.over && c.Len()+len(p) <= c.max {
		c.Buffer.Write(p)
	} else {
		c.over = true
	}
	return len(p), nil
}

// eventPaths decodes the events of an ingest body one by one, as the
// handler's decoder does (strict JSON, no unknown field, numbers exact),
// and names every event that does not decode by its path:
// `events[3].ts: not an RFC 3339 time like "2006-01-02T15:04:05Z": "bad"`,
// `events[0].status: want an integer, got a JSON string`. encoding/json's
// own errors name no index, and for a time no field ("a time is not an RFC
// 3339 time ..."), so the reporter could not tell which event to fix. Up
// to ten problems, as ValidateAt lists them. nil when every event decodes
// (the fault is elsewhere: the caller keeps its own error).
func eventPaths(body []byte) error {
	var outer struct {
		Events []json.RawMessage `json:"events"`
	}
	if json.Unmarshal(body, &outer) != nil {
		return nil
	}
	var problems []string
	for i, raw := range outer.Events {
		msg := eventError(raw)
		if msg == "" {
			continue
		}
		if len(problems) == 10 {
			problems = append(problems, "...")
			break
		}
		problems = append(problems, fmt.Sprintf("events[%d]%s", i, msg))
	}
	if len(problems) == 0 {
		return nil
	}
	return errs.E("observer.ingest", errs.Invalid, strings.Join(problems, "; "))
}

// eventError decodes one event as the handler does and words its error
// after the event's path: ".field: ..." or ": ..." for the event itself;
// "" when it decodes.
func eventError(raw json.RawMessage) string {
	var e Event
	dec := json.NewDecoder(shared.StrictJSONFor(bytes.NewReader(raw), &e))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	err := dec.Decode(&e)
	if err == nil {
		if _, terr := dec.Token(); errors.Is(terr, io.EOF) {
			return ""
		}
		return ": has data after the event"
	}
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	var se *shared.StrictJSONError
	switch {
	case errors.As(err, &te):
		at := ": "
		if te.Field != "" {
			at = "." + te.Field + ": "
		}
		return at + "want " + jsonWant(te.Type) + ", got a JSON " + shared.JSONValueEcho(te.Value)
	case errors.As(err, &pe):
		// ts is the event's only time
		return fmt.Sprintf(".ts: not an RFC 3339 time like \"2006-01-02T15:04:05Z\": %q", shared.CutEcho(pe.Value))
	case err.Error() == "Time.UnmarshalJSON: input is not a JSON string":
		return ".ts: want a JSON string holding an RFC 3339 time like \"2006-01-02T15:04:05Z\""
	case errors.As(err, &se):
		return ": " + se.Reason
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field ") {
		return ": " + msg + " (an event has ts, service, op, status, duration_ms, request_id, attrs)"
	}
	return ": " + msg
}

// jsonWant names what a Go type of Event takes in JSON.
func jsonWant(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}
