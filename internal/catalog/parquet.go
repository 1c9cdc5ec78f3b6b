package catalog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"lakehouse-go/internal/errs"
	"lakehouse-go/internal/storage"
)

// A Parquet file is "PAR1", the column chunks, the footer (a Thrift
// compact-protocol FileMetaData), the footer's length (4 bytes little
// endian) and "PAR1" again. Commit reads only the footer, with ranged GETs,
// and checks it against the manifest (ADR-013): the row count and the
// top-level column names.

// Limits of the footer check.
const (
	parquetMagic     = "PAR1"
	parquetMagicEnc  = "PARE" // encrypted footer
	minParquetBytes  = 12     // magic, footer length, magic
	maxFooterBytes   = 64 << 20
	footerTailBytes  = 64 << 10 // one GET of the file's tail covers most footers
	maxColumns       = 100_000  // top-level columns of one file
	maxNameBytes     = 64 << 10 // one column name
	maxThriftDepth   = 32       // nesting of structs, lists and maps
	maxFooterCheckGo = 8        // files checked at once by one commit
)

// parquetFooter is what Commit needs from a file's FileMetaData.
type parquetFooter struct {
	NumRows int64    // FileMetaData.num_rows (= the sum over its row groups)
	Columns []string // names of the root's children, in order
}

// Thrift compact protocol types.
const (
	ctStop   = 0
	ctTrue   = 1
	ctFalse  = 2
	ctByte   = 3
	ctI16    = 4
	ctI32    = 5
	ctI64    = 6
	ctDouble = 7
	ctBinary = 8
	ctList   = 9
	ctSet    = 10
	ctMap    = 11
	ctStruct = 12
)

var errFooterShort = errors.New("the footer ends in the middle of a value")

// thriftReader reads Thrift compact protocol from at most left bytes of r.
// Every length it meets is checked against the bytes left before anything
// is read or allocated, and nesting is bounded, so a hostile footer costs
// at most its own length in time and no more than maxNameBytes per name in
// memory.
type thriftReader struct {
	r     *bufio.Reader
	left  int64
	depth int
}

func newThriftReader(r io.Reader, n int64) *thriftReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, int(min(max(n, 16), 64<<10)))
	}
	return &thriftReader{r: br, left: n}
}

// ReadByte implements io.ByteReader (for binary.ReadUvarint).
func (t *thriftReader) ReadByte() (byte, error) {
	if t.left <= 0 {
		return 0, errFooterShort
	}
	b, err := t.r.ReadByte()
	if err != nil {
		return 0, readErr(err)
	}
	t.left--
	return b, nil
}

// readErr words an error of the underlying reader: the end of the data is
// the footer's fault, anything else storage's (an *errs.Error, which the
// caller passes on instead of blaming the file).
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errFooterShort
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	return errs.E("catalog.commit", errs.Unavailable, "reading a Parquet footer from storaged", err)
}

func (t *thriftReader) discard(n int64) error {
	if n < 0 || n > t.left {
		return errFooterShort
	}
	for n > 0 {
		k := int(min(n, 1<<30))
		d, err := t.r.Discard(k)
		t.left -= int64(d)
		n -= int64(d)
		if err != nil {
			return readErr(err)
		}
	}
	return nil
}

func (t *thriftReader) uvarint() (uint64, error) {
	v, err := binary.ReadUvarint(t)
	if err != nil {
		var e *errs.Error
		if errors.Is(err, errFooterShort) || errors.As(err, &e) {
			return 0, err // the end of the footer, or storage's error (ReadByte)
		}
		return 0, errors.New("a varint overflows 64 bits")
	}
	return v, nil
}

func (t *thriftReader) i64() (int64, error) {
	v, err := t.uvarint()
	return int64(v>>1) ^ -int64(v&1), err
}

func (t *thriftReader) i32() (int32, error) {
	v, err := t.uvarint()
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint32 {
		return 0, errors.New("an i32 varint overflows 32 bits")
	}
	u := uint32(v)
	return int32(u>>1) ^ -int32(u&1), nil
}

func (t *thriftReader) i16() (int16, error) {
	v, err := t.uvarint()
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint16 {
		return 0, errors.New("an i16 varint overflows 16 bits")
	}
	u := uint16(v)
	return int16(u>>1) ^ -int16(u&1), nil
}

// binaryLen reads the length of a binary value and checks it fits.
func (t *thriftReader) binaryLen() (int64, error) {
	v, err := t.uvarint()
	if err != nil {
		return 0, err
	}
	if v > uint64(t.left) {
		return 0, fmt.Errorf("a string of %d bytes is longer than the rest of the footer (%d bytes)", v, t.left)
	}
	return int64(v), nil
}

// str reads a binary value of at most limit bytes.
func (t *thriftReader) str(limit int64) (string, error) {
	n, err := t.binaryLen()
	if err != nil {
		return "", err
	}
	if n > limit {
		return "", fmt.Errorf("a name of %d bytes is longer than %d bytes", n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(t.r, b); err != nil {
		return "", readErr(err)
	}
	t.left -= n
	return string(b), nil
}

// field reads a field header: id and type; typ is ctStop at the struct's end.
func (t *thriftReader) field(last *int16) (id int16, typ byte, err error) {
	b, err := t.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	if b == ctStop {
		return 0, ctStop, nil
	}
	typ = b & 0x0f
	if typ == ctStop || typ > ctStruct {
		return 0, 0, fmt.Errorf("unknown Thrift field type %d", typ)
	}
	if d := b >> 4; d != 0 {
		id = *last + int16(d)
	} else if id, err = t.i16(); err != nil {
		return 0, 0, err
	}
	*last = id
	return id, typ, nil
}

// listHeader reads a list or set header: size and element type. The size is
// checked against the bytes left (every element takes at least one byte).
func (t *thriftReader) listHeader() (n int64, elem byte, err error) {
	b, err := t.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	elem = b & 0x0f
	n = int64(b >> 4)
	if n == 15 {
		v, err := t.uvarint()
		if err != nil {
			return 0, 0, err
		}
		if v > uint64(t.left) {
			return 0, 0, fmt.Errorf("a list of %d elements is longer than the rest of the footer (%d bytes)", v, t.left)
		}
		n = int64(v)
	}
	if n > t.left {
		return 0, 0, fmt.Errorf("a list of %d elements is longer than the rest of the footer (%d bytes)", n, t.left)
	}
	if n > 0 && (elem == ctStop || elem > ctStruct) {
		return 0, 0, fmt.Errorf("unknown Thrift list element type %d", elem)
	}
	return n, elem, nil
}

func (t *thriftReader) enter() error {
	if t.depth >= maxThriftDepth {
		return fmt.Errorf("values nested deeper than %d", maxThriftDepth)
	}
	t.depth++
	return nil
}

func (t *thriftReader) leave() { t.depth-- }

// skip skips one value of type typ; inList says whether it is an element
// of a list, set or map (where a bool takes a byte of its own).
func (t *thriftReader) skip(typ byte, inList bool) error {
	switch typ {
	case ctTrue, ctFalse:
		if inList {
			_, err := t.ReadByte()
			return err
		}
		return nil
	case ctByte:
		_, err := t.ReadByte()
		return err
	case ctI16:
		_, err := t.i16()
		return err
	case ctI32:
		_, err := t.i32()
		return err
	case ctI64:
		_, err := t.uvarint()
		return err
	case ctDouble:
		return t.discard(8)
	case ctBinary:
		n, err := t.binaryLen()
		if err != nil {
			return err
		}
		return t.discard(n)
	case ctList, ctSet:
		if err := t.enter(); err != nil {
			return err
		}
		defer t.leave()
		n, elem, err := t.listHeader()
		if err != nil {
			return err
		}
		for i := int64(0); i < n; i++ {
			if err := t.skip(elem, true); err != nil {
				return err
			}
		}
		return nil
	case ctMap:
		if err := t.enter(); err != nil {
			return err
		}
		defer t.leave()
		v, err := t.uvarint()
		if err != nil {
			return err
		}
		if v == 0 {
			return nil
		}
		if v > uint64(t.left/2) {
			return fmt.Errorf("a map of %d entries is longer than the rest of the footer (%d bytes)", v, t.left)
		}
		kv, err := t.ReadByte()
		if err != nil {
			return err
		}
		kt, vt := kv>>4, kv&0x0f
		if kt == ctStop || kt > ctStruct || vt == ctStop || vt > ctStruct {
			return fmt.Errorf("unknown Thrift map types %d, %d", kt, vt)
		}
		for i := uint64(0); i < v; i++ {
			if err := t.skip(kt, true); err != nil {
				return err
			}
			if err := t.skip(vt, true); err != nil {
				return err
			}
		}
		return nil
	case ctStruct:
		return t.structFields(func(id int16, typ byte) (bool, error) { return false, nil })
	}
	return fmt.Errorf("unknown Thrift type %d", typ)
}

// structFields reads a struct, calling fn for each field; fn reads the
// value itself and returns true, or returns false to have it skipped.
func (t *thriftReader) structFields(fn func(id int16, typ byte) (bool, error)) error {
	if err := t.enter(); err != nil {
		return err
	}
	defer t.leave()
	var last int16
	for {
		id, typ, err := t.field(&last)
		if err != nil {
			return err
		}
		if typ == ctStop {
			return nil
		}
		done, err := fn(id, typ)
		if err != nil {
			return err
		}
		if !done {
			if err := t.skip(typ, false); err != nil {
				return err
			}
		}
	}
}

// fieldType checks that a known field has the wire type the Parquet
// format gives it.
func fieldType(what string, typ, want byte) error {
	if typ != want {
		return fmt.Errorf("%s has Thrift type %d, want %d", what, typ, want)
	}
	return nil
}

// parseFooter parses the FileMetaData of a Parquet file from exactly n bytes
// of r (the footer, without its length and magic). It never reads more than
// n bytes and never allocates from a length it has not checked.
func parseFooter(r io.Reader, n int64) (parquetFooter, error) {
	var f parquetFooter
	if n <= 0 || n > maxFooterBytes {
		return f, fmt.Errorf("footer length %d: want 1 to %d bytes", n, maxFooterBytes)
	}
	t := newThriftReader(r, n)
	var haveSchema, haveRows, haveGroups bool
	var groupRows int64
	err := t.structFields(func(id int16, typ byte) (bool, error) {
		switch id {
		case 2: // schema: list<SchemaElement>
			if haveSchema {
				return true, errors.New("FileMetaData.schema appears twice")
			}
			haveSchema = true
			if err := fieldType("FileMetaData.schema", typ, ctList); err != nil {
				return true, err
			}
			cols, err := t.schema()
			f.Columns = cols
			return true, err
		case 3: // num_rows: i64
			if haveRows {
				return true, errors.New("FileMetaData.num_rows appears twice")
			}
			haveRows = true
			if err := fieldType("FileMetaData.num_rows", typ, ctI64); err != nil {
				return true, err
			}
			v, err := t.i64()
			f.NumRows = v
			return true, err
		case 4: // row_groups: list<RowGroup>
			if haveGroups {
				return true, errors.New("FileMetaData.row_groups appears twice")
			}
			haveGroups = true
			if err := fieldType("FileMetaData.row_groups", typ, ctList); err != nil {
				return true, err
			}
			v, err := t.rowGroups()
			groupRows = v
			return true, err
		case 8: // encryption_algorithm: an encrypted file with a plaintext footer
			return true, errors.New("the file is encrypted (FileMetaData.encryption_algorithm is set); encrypted Parquet is not supported")
		}
		return false, nil
	})
	if err != nil {
		return parquetFooter{}, err
	}
	switch {
	case !haveSchema:
		return parquetFooter{}, errors.New("FileMetaData has no schema")
	case !haveRows:
		return parquetFooter{}, errors.New("FileMetaData has no num_rows")
	case !haveGroups:
		return parquetFooter{}, errors.New("FileMetaData has no row_groups")
	case f.NumRows < 0:
		return parquetFooter{}, fmt.Errorf("FileMetaData.num_rows is negative (%d)", f.NumRows)
	case groupRows != f.NumRows:
		return parquetFooter{}, fmt.Errorf("FileMetaData.num_rows is %d but its row groups hold %d rows", f.NumRows, groupRows)
	case t.left != 0:
		return parquetFooter{}, fmt.Errorf("%d bytes follow the FileMetaData inside the footer", t.left)
	}
	return f, nil
}

// schema reads the flattened schema (depth first; element 0 is the root,
// num_children gives each group's size) and returns the names of the root's
// children, checking that the tree uses every element exactly once.
func (t *thriftReader) schema() ([]string, error) {
	if err := t.enter(); err != nil {
		return nil, err
	}
	defer t.leave()
	n, elem, err := t.listHeader()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("the schema is empty")
	}
	if elem != ctStruct {
		return nil, fmt.Errorf("schema elements have Thrift type %d, want %d", elem, ctStruct)
	}
	var names []string
	var topLeft, pending int64 // root children still to come; elements left in the current column's subtree
	for i := int64(0); i < n; i++ {
		var name string
		var children int32
		var haveName, haveChildren bool
		err := t.structFields(func(id int16, typ byte) (bool, error) {
			switch id {
			case 4: // name
				if err := fieldType("SchemaElement.name", typ, ctBinary); err != nil {
					return true, err
				}
				var err error
				name, err = t.str(maxNameBytes)
				haveName = true
				return true, err
			case 5: // num_children
				if err := fieldType("SchemaElement.num_children", typ, ctI32); err != nil {
					return true, err
				}
				var err error
				children, err = t.i32()
				haveChildren = true
				return true, err
			}
			return false, nil
		})
		if err != nil {
			return nil, err
		}
		if children < 0 {
			return nil, fmt.Errorf("schema element %d has %d children", i, children)
		}
		rest := n - i - 1 // elements after this one
		switch {
		case i == 0:
			if !haveChildren {
				return nil, errors.New("the schema's root is not a group (no num_children)")
			}
			if children > maxColumns {
				return nil, fmt.Errorf("the schema has %d columns, more than %d", children, maxColumns)
			}
			topLeft = int64(children)
		case pending == 0: // the first element of a top-level column
			if topLeft == 0 {
				return nil, fmt.Errorf("the schema has %d elements but the root's columns end at element %d", n, i)
			}
			if !haveName {
				return nil, fmt.Errorf("column %d has no name", len(names)+1)
			}
			topLeft--
			names = append(names, name)
			pending = int64(children)
		default:
			pending += int64(children) - 1
		}
		if topLeft+pending > rest {
			return nil, fmt.Errorf("the schema's num_children need more elements than the %d it has", n)
		}
	}
	// topLeft+pending <= rest = 0 after the last element.
	return names, nil
}

// rowGroups reads list<RowGroup> and returns the sum of their num_rows.
func (t *thriftReader) rowGroups() (int64, error) {
	if err := t.enter(); err != nil {
		return 0, err
	}
	defer t.leave()
	n, elem, err := t.listHeader()
	if err != nil {
		return 0, err
	}
	if n > 0 && elem != ctStruct {
		return 0, fmt.Errorf("row groups have Thrift type %d, want %d", elem, ctStruct)
	}
	var sum int64
	for i := int64(0); i < n; i++ {
		var rows int64
		have := false
		err := t.structFields(func(id int16, typ byte) (bool, error) {
			if id != 3 {
				return false, nil
			}
			if have {
				return true, fmt.Errorf("row group %d: num_rows appears twice", i)
			}
			have = true
			if err := fieldType("RowGroup.num_rows", typ, ctI64); err != nil {
				return true, err
			}
			var err error
			rows, err = t.i64()
			return true, err
		})
		if err != nil {
			return 0, err
		}
		if !have {
			return 0, fmt.Errorf("row group %d has no num_rows", i)
		}
		if rows < 0 || rows > math.MaxInt64-sum {
			return 0, fmt.Errorf("row group %d has %d rows", i, rows)
		}
		sum += rows
	}
	return sum, nil
}

// parseTrailer checks the last 8 bytes of a file of size bytes and returns
// the footer's length.
func parseTrailer(tail []byte, size int64) (int64, error) {
	if len(tail) != 8 {
		return 0, fmt.Errorf("trailer of %d bytes", len(tail))
	}
	switch string(tail[4:]) {
	case parquetMagic:
	case parquetMagicEnc:
		return 0, errors.New("the file has an encrypted footer (magic PARE); encrypted Parquet is not supported")
	default:
		return 0, fmt.Errorf("it does not end with the Parquet magic PAR1 (last bytes %q)", tail[4:])
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	switch {
	case n == 0:
		return 0, errors.New("the footer length is 0")
	case n > maxFooterBytes:
		return 0, fmt.Errorf("the footer length %d is over the limit of %d bytes", n, maxFooterBytes)
	case n > size-minParquetBytes:
		return 0, fmt.Errorf("the footer length %d does not fit in a file of %d bytes", n, size)
	}
	return n, nil
}

// parseFile parses the footer of a whole Parquet file held in memory (what
// readFooter does for a small file, and the fuzz target's entry).
func parseFile(b []byte) (parquetFooter, error) {
	size := int64(len(b))
	if size < minParquetBytes {
		return parquetFooter{}, fmt.Errorf("%d bytes is too small to be a Parquet file (at least %d)", size, minParquetBytes)
	}
	if string(b[:4]) != parquetMagic {
		return parquetFooter{}, fmt.Errorf("it does not start with the Parquet magic PAR1 (first bytes %q)", b[:4])
	}
	n, err := parseTrailer(b[size-8:], size)
	if err != nil {
		return parquetFooter{}, err
	}
	return parseFooter(bytes.NewReader(b[size-8-n:size-8]), n)
}

// readFooter reads and parses the footer of the object key, of size bytes,
// with ranged GETs: a small file whole, else its first 4 bytes, its tail
// (which usually holds the whole footer) and the footer itself when the
// tail did not hold it (streamed, never buffered). Errors about the content
// are plain errors (the caller words them as Invalid, naming the file);
// storage's are *errs.Error.
func readFooter(ctx context.Context, st storage.Store, key string, size int64) (parquetFooter, error) {
	if size < minParquetBytes {
		return parquetFooter{}, fmt.Errorf("%d bytes is too small to be a Parquet file (at least %d)", size, minParquetBytes)
	}
	if size <= footerTailBytes {
		b, err := getRange(ctx, st, key, size, 0, size)
		if err != nil {
			return parquetFooter{}, err
		}
		return parseFile(b)
	}
	head, err := getRange(ctx, st, key, size, 0, 4)
	if err != nil {
		return parquetFooter{}, err
	}
	if string(head) != parquetMagic {
		return parquetFooter{}, fmt.Errorf("it does not start with the Parquet magic PAR1 (first bytes %q)", head)
	}
	tail, err := getRange(ctx, st, key, size, size-footerTailBytes, footerTailBytes)
	if err != nil {
		return parquetFooter{}, err
	}
	n, err := parseTrailer(tail[footerTailBytes-8:], size)
	if err != nil {
		return parquetFooter{}, err
	}
	if n+8 <= footerTailBytes {
		return parseFooter(bytes.NewReader(tail[footerTailBytes-8-n:footerTailBytes-8]), n)
	}
	rc, info, err := st.Get(ctx, key, storage.GetOptions{Offset: size - 8 - n, Length: n})
	if err != nil {
		return parquetFooter{}, err
	}
	defer rc.Close()
	if info.Size != size {
		return parquetFooter{}, fmt.Errorf("the object changed while it was checked (%d bytes, then %d)", size, info.Size)
	}
	return parseFooter(io.LimitReader(rc, n), n)
}

// getRange reads exactly length bytes at off of key (length is bounded by
// the caller: at most footerTailBytes).
func getRange(ctx context.Context, st storage.Store, key string, size, off, length int64) ([]byte, error) {
	rc, info, err := st.Get(ctx, key, storage.GetOptions{Offset: off, Length: length})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if info.Size != size {
		return nil, fmt.Errorf("the object changed while it was checked (%d bytes, then %d)", size, info.Size)
	}
	b := make([]byte, length)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, errs.E("catalog.commit", errs.Unavailable, fmt.Sprintf("reading %s from storaged", key), err)
	}
	return b, nil
}

// columnsDiff says how the file's columns differ from the schema's names
// ("" when they are equal, in order).
func columnsDiff(file []string, schema []Column) string {
	if len(file) != len(schema) {
		want := make([]string, len(schema))
		for i, c := range schema {
			want[i] = c.Name
		}
		return fmt.Sprintf("the file has %d columns (%s) but the schema declares %d (%s)",
			len(file), quoteList(file), len(schema), quoteList(want))
	}
	for i := range file {
		if file[i] != schema[i].Name {
			return fmt.Sprintf("column %d is %q in the file but %q in the schema", i+1, file[i], schema[i].Name)
		}
	}
	return ""
}

// quoteList quotes the first few names of list.
func quoteList(list []string) string {
	const show = 8
	var b strings.Builder
	for i, s := range list {
		if i == show {
			fmt.Fprintf(&b, ", ... %d more", len(list)-show)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if len(s) > 64 {
			s = s[:64] + "..."
		}
		fmt.Fprintf(&b, "%q", s)
	}
	return b.String()
}
