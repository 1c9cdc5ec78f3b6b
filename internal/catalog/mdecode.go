package catalog

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// decodeStored decodes a manifest of exactly encodeManifest's form without
// reflection over its file list: the summary, schema and other fields
// before "files" are decoded by encoding/json (a few hundred bytes), the
// files — every file of the dataset, most of a manifest's bytes — by
// parseStoredFiles, which takes only the fixed text encodeManifest writes
// for a file with a plain key. ok false for anything else (a manifest
// written before files came last, a key json.Marshal escapes, any other
// spacing): the caller decodes it with encoding/json, as before. When ok,
// d is what json.Decoder.Decode gives for b (FuzzDecodeStored compares the
// two): a cold list from the manifest cache (ADR-158) spent most of its
// CPU decoding file lists through reflection.
func decodeStored(b []byte) (d Dataset, ok bool) {
	// A raw newline is never inside a JSON string, so this is a key (or
	// b is no JSON, which the decode of the head below finds). The first
	// one: what parseStoredFiles takes to the end holds no other.
	const mark = "\n \"files\": ["
	i := bytes.Index(b, []byte(mark))
	if i < 0 {
		return Dataset{}, false
	}
	files, ok := parseStoredFiles(b[i+len(mark):])
	if !ok {
		return Dataset{}, false
	}
	// The same object with the files' array replaced by null: one value
	// for another, so it is valid exactly when b is, and decodes to the
	// same fields but Files.
	const tail = "\n \"files\": null\n}"
	head := make([]byte, 0, i+len(tail))
	head = append(append(head, b[:i]...), tail...)
	dec := json.NewDecoder(bytes.NewReader(head))
	if err := dec.Decode(&d); err != nil {
		return Dataset{}, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return Dataset{}, false
	}
	d.Files = files
	return d, true
}

// parseStoredFiles parses what follows `"files": [` in encodeManifest's
// form, to the manifest's end: files each as
// "\n  {\n   \"key\": \"K\",\n   \"rows\": N,\n   \"bytes\": N\n  }"
// separated by ',' then (when any) "\n " and "]\n}". K is plainJSON, N a
// JSON integer that fits an int64. ok false for anything else.
func parseStoredFiles(b []byte) (files []File, ok bool) {
	const (
		open  = "\n  {\n   \"key\": \""
		rows  = "\",\n   \"rows\": "
		byts  = ",\n   \"bytes\": "
		close = "\n  }"
	)
	if bytes.Equal(b, []byte("]\n}")) {
		return []File{}, true
	}
	// Each file is about 100 bytes of text.
	files = make([]File, 0, len(b)/100+1)
	for {
		var f File
		if b, ok = bytes.CutPrefix(b, []byte(open)); !ok {
			return nil, false
		}
		j := bytes.IndexByte(b, '"')
		if j <= 0 {
			return nil, false
		}
		f.Key, b = string(b[:j]), b[j:]
		if !plainJSON(f.Key) {
			return nil, false
		}
		if b, ok = bytes.CutPrefix(b, []byte(rows)); !ok {
			return nil, false
		}
		if f.Rows, b, ok = cutJSONInt(b); !ok {
			return nil, false
		}
		if b, ok = bytes.CutPrefix(b, []byte(byts)); !ok {
			return nil, false
		}
		if f.Bytes, b, ok = cutJSONInt(b); !ok {
			return nil, false
		}
		if b, ok = bytes.CutPrefix(b, []byte(close)); !ok {
			return nil, false
		}
		files = append(files, f)
		if rest, more := bytes.CutPrefix(b, []byte(",")); more {
			b = rest
			continue
		}
		return files, bytes.Equal(b, []byte("\n ]\n}"))
	}
}

// cutJSONInt cuts a JSON number without fraction or exponent
// (-?(0|[1-9][0-9]*)) that fits an int64 off the front of b.
func cutJSONInt(b []byte) (n int64, rest []byte, ok bool) {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	switch {
	case i == start, b[start] == '0' && i-start > 1:
		return 0, nil, false
	case i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'):
		return 0, nil, false
	}
	n, err := strconv.ParseInt(string(b[:i]), 10, 64)
	if err != nil {
		return 0, nil, false
	}
	return n, b[i:], true
}
