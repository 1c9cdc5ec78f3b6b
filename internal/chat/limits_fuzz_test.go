package chat

import (
	"encoding/json"
	"testing"
)

// FuzzToolCallCount: arrayLenOver, which bounds a message's tool_calls
// without decoding them, agrees with encoding/json's count of the array's
// elements for every valid JSON value and limit.
func FuzzToolCallCount(f *testing.F) {
	f.Add([]byte(`[{"id":"a","function":{"name":"f","arguments":"{\"x\":[1,2]}"}},{"function":{"name":"g","arguments":{}}}]`), 1)
	f.Add([]byte(`[]`), 1)
	f.Add([]byte(` [ "a,b" , "c\"]," , [1,2] ] `), 2)
	f.Add([]byte(`{"a":[1,2,3]}`), 1)
	f.Add([]byte(`[[],{},"\\",null]`), 3)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		if !json.Valid(b) || limit < 1 || limit > 1000 {
			return
		}
		var items []json.RawMessage
		isArray := json.Unmarshal(b, &items) == nil
		want := isArray && len(items) > limit
		if got := arrayLenOver(b, limit); got != want {
			t.Fatalf("arrayLenOver(%s, %d) = %v; %d elements (array %v)", b, limit, got, len(items), isArray)
		}
		var r boundedRaw
		if err := r.UnmarshalJSON(b); (err != nil) != (isArray && len(items) > MaxToolCalls) {
			t.Fatalf("boundedRaw(%s): %v", b, err)
		}
	})
}
