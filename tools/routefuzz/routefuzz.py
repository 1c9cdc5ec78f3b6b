# routefuzz: a black-box fuzzer of every route through the gateway. Its first
# form mutated the JSON bodies
# of the POST/PUT routes; this one covers every route of DESIGN.md (GET/DELETE
# with query strings and path segments, storaged objects with headers, ingest
# with params and bodies, pathway memory ids, chat's OpenAI and Ollama routes),
# wrong methods, unknown paths, raw malformed requests, and checks the daemons
# did not restart (their /health versions).
# usage: start the suite (`./scripts/just up`), then: python3 tools/routefuzz/routefuzz.py SEED N
# Any line marked bad (a 5xx that is not an unavailability, an answer without
# DESIGN.md's error body, a hang, a daemon restart) is a defect (ADR-126).
import json, random, sys, http.client, copy, time, socket, urllib.parse, re
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
random.seed(seed)
H = "127.0.0.1"; P = 3110
KINDS = {"invalid": {400, 405, 416, 499}, "not_found": {404}, "conflict": {409, 412},
         "unauthorized": {401}, "forbidden": {403}, "too_large": {413, 431},
         "unavailable": {502, 503}, "timeout": {504}, "internal": {500},
         "not_implemented": {501}}

def req(m, path, body=None, ctype="application/json", headers=None, timeout=30):
    c = http.client.HTTPConnection(H, P, timeout=timeout)
    hd = dict(headers or {})
    if body is not None:
        if not isinstance(body, (bytes,)): body = json.dumps(body).encode()
        if ctype is not None: hd.setdefault("Content-Type", ctype)
    t = time.time()
    path = "".join(ch if ord(ch) < 128 else urllib.parse.quote(ch.encode("utf-8", "surrogatepass")) for ch in path)
    try:
        c.putrequest(m, path, skip_accept_encoding=True)
        for k, v in hd.items(): c.putheader(k, v)
        if body is not None: c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        if r.getheader("Content-Type", "").startswith("text/event-stream"):
            d = r.read1(4096) if hasattr(r, "read1") else b""
        else:
            d = r.read()
        return r.status, d, dict(r.getheaders()), time.time() - t
    except Exception as e:
        return -1, repr(e).encode(), {}, time.time() - t
    finally: c.close()

def q(s): return urllib.parse.quote(s, safe="")
# setup
req("POST", "/v1/ingest?name=rf_docs", b"id,title,body,n\n1,hello world,the quick brown fox,3\n2,second,lazy dog jumps,4\n", "text/csv")
req("PUT", "/v1/vectors/indexes/rfv", {"dims": 3, "metric": "cosine"})
req("POST", "/v1/vectors/indexes/rfv/upsert", {"items": [{"id": "a", "vector": [1, 2, 3], "metadata": {"k": "v"}}]})
req("POST", "/v1/matrix/indexes", {"dataset": "rf_docs", "id_column": "id", "text_columns": ["title", "body"]})
req("PUT", "/v1/storage/objects/rf/a.txt", b"hello", "text/plain")
st, d, _, _ = req("POST", "/v1/pathway/memories", {"text": "likes tea", "user_id": "rfu"})
try: MEM = json.loads(d)["results"][0]["id"]
except Exception: MEM = "nonexistent"
req("POST", "/v1/pathway/traces", {"run_id": "rfr", "steps": [{"type": "tool", "name": "s"}]})

weird_str = ["", "x" * 3000, "\u202e", "\x00", "%00", "%ff", "..", "../..", "a/../b", "/", "//", "%2e%2e", "null",
             "-1", "0", "99999999999999999999", "1.5", "1e999", "NaN", "true", "[]", "{}", "a b", "a?b", "a#b",
             "\ud800", "é", "\t", "\r\n", "*", "'; DROP TABLE x; --", "2026-13-45T99:99:99Z", "2026-11-29T00:00:00Z",
             "rf_docs", "RF_DOCS", "_catalog", "rfv", "a" * 63, "a" * 64]
weird = [None, True, False, 0, -1, 1.5, 1e308, -1e308, 2**64, -(2**63) - 1, "", "x" * 5000, "\u202e", "\x00", "null",
         [], {}, [None], {"": None}, [1, 2, 3], "DROP TABLE x", 1e-320, "\ud800", "2026-13-45T99:99:99Z",
         float(2**53 + 1), [[1]], {"a": {"b": {"c": []}}}]

def ws(): return random.choice(weird_str)
def wq(s):  # quote a weird string for a path or a query, sometimes raw
    try: s.encode("utf-8")
    except UnicodeEncodeError: s = "%ed%a0%80"
    return q(s) if random.random() < 0.8 else s.replace(" ", "%20").replace("\r\n", "%0d%0a").replace("\t", "%09").replace("\x00", "%00").replace("#", "%23")

def qs(params):
    parts = []
    for k, v in params.items():
        r = random.random()
        if r < 0.35: v = ws()
        elif r < 0.4: continue
        elif r < 0.45: parts.append(wq(k) + "=" + wq(str(v))); # repeated
        parts.append(wq(k) + "=" + (wq(str(v)) if isinstance(v, str) else str(v)))
    if random.random() < 0.1: parts.append(wq(ws()) + "=" + wq(ws()))
    return ("?" + "&".join(parts)) if parts else ""

def seg(default):
    return wq(ws()) if random.random() < 0.6 else default

# (method, path builder, body builder or None, content-type)
gets = [
    lambda: ("GET", "/v1/storage/objects" + qs({"prefix": "rf/", "after": "", "limit": 10}), None),
    lambda: ("GET", "/v1/storage/objects/" + seg("rf/a.txt"), None),
    lambda: ("HEAD", "/v1/storage/objects/" + seg("rf/a.txt"), None),
    lambda: ("DELETE", "/v1/storage/objects/" + seg("rf/zz.txt"), None),
    lambda: ("PUT", "/v1/storage/objects/rf/" + seg("b.txt"), b"x" * random.choice([0, 1, 100])),
    lambda: ("GET", "/v1/catalog/datasets" + qs({"limit": 10}), None),
    lambda: ("GET", "/v1/catalog/datasets/" + seg("rf_docs") + qs({"version": 1}), None),
    lambda: ("GET", "/v1/catalog/datasets/" + seg("rf_docs") + "/versions", None),
    lambda: ("DELETE", "/v1/catalog/datasets/" + seg("rf_nonexistent"), None),
    lambda: ("GET", "/v1/vectors/indexes" + qs({}), None),
    lambda: ("GET", "/v1/vectors/indexes/" + seg("rfv"), None),
    lambda: ("DELETE", "/v1/vectors/indexes/" + seg("rf_nonexistent"), None),
    lambda: ("GET", "/v1/vectors/indexes/rfv/items/" + seg("a"), None),
    lambda: ("POST", "/v1/vectors/indexes/" + seg("rfv") + "/recover", mutate({"accept_loss": False})),
    lambda: ("GET", "/v1/embed/models" + qs({}), None),
    lambda: ("GET", "/v1/pathway/memories" + qs({"user_id": "rfu", "agent_id": "ag", "run_id": "r", "limit": 5}), None),
    lambda: ("GET", "/v1/pathway/memories/" + seg(MEM), None),
    lambda: ("PUT", "/v1/pathway/memories/" + seg(MEM), mutate({"text": "likes coffee", "metadata": {"a": 1}})),
    lambda: ("GET", "/v1/pathway/memories/" + seg(MEM) + "/history", None),
    lambda: ("DELETE", "/v1/pathway/memories/" + seg("nonexistent"), None),
    lambda: ("DELETE", "/v1/pathway/memories" + qs({"user_id": "rf_nobody"}), None),
    lambda: ("GET", "/v1/pathway/traces/" + seg("rfr"), None),
    lambda: ("GET", "/v1/matrix/indexes" + qs({}), None),
    lambda: ("GET", "/v1/matrix/indexes/" + seg("rf_docs"), None),
    lambda: ("DELETE", "/v1/matrix/indexes/" + seg("rf_nonexistent"), None),
    lambda: ("GET", "/v1/observer/events" + qs({"service": "queryd", "op": "x", "since": "2026-11-29T00:00:00Z", "limit": 10}), None),
    lambda: ("GET", "/v1/observer/stats" + qs({"service": "queryd", "since": "2026-11-29T00:00:00Z"}), None),
    lambda: ("GET", "/v1/observer/stream" + qs({"service": "queryd"}), None),
    lambda: ("GET", "/v1/chat/providers" + qs({}), None),
    lambda: ("GET", "/v1/chat/models" + qs({}), None),
    lambda: ("GET", "/v1/chat/models/" + seg("m"), None),
    lambda: ("GET", "/v1/chat/api/tags", None),
    lambda: ("POST", "/v1/chat/api/chat", mutate({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False})),
    lambda: ("POST", "/v1/chat/chat/completions", mutate({"model": "m", "messages": [{"role": "user", "content": "hi"}]})),
    lambda: ("POST", "/v1/ingest/compact" + qs({"name": "rf_docs"}), mutate({})),
    lambda: ("GET", "/v1/health" + qs({}), None),
    lambda: ("GET", "/health", None),
    lambda: ("GET", "/metrics", None),
    lambda: ("GET", "/", None),
    lambda: ("HEAD", "/", None),
]
ingest_bodies = [b"id,title\n1,a\n", b"id,title\n1,a\n2\n", b"\xef\xbb\xbfid;x\n1;2\n", b'{"id":1,"t":"a"}\n{"id":2}\n',
                 b"PAR1garbage", b"", b"a,a\n1,2\n", b'"unterminated\n', b"id\n" + b"1\n" * 1000, b"\x00\x01\x02"]
def ingest_req():
    body = random.choice(ingest_bodies)
    if random.random() < 0.3:
        bb = bytearray(body)
        if bb: bb[random.randrange(len(bb))] = random.randrange(256)
        body = bytes(bb)
    p = {"name": "rf_ing", "mode": random.choice(["append", "replace"]), "format": random.choice(["csv", "jsonl", "parquet"])}
    ct = random.choice(["text/csv", "application/octet-stream", "multipart/form-data", "multipart/form-data; boundary=x", None])
    if ct and ct.endswith("boundary=x") and random.random() < 0.5:
        body = b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n" + body + b"\r\n--x--\r\n"
    return ("POST", "/v1/ingest" + qs(p), body, ct)

def storage_hdr_req():
    h = random.choice([{"Range": random.choice(["bytes=0-1", "bytes=-1", "bytes=5-", "bytes=9-1", "bytes=0-0,2-3", "bytes=x", "items=0-1", "bytes=99999999999999999999-"])},
                       {"If-None-Match": random.choice(["*", "\"x\"", "", "W/\"x\""])},
                       {"If-Range": random.choice(["\"x\"", "Mon, 30 Nov 2026 00:00:00 GMT", "garbage"]), "Range": "bytes=0-1"},
                       {"If-Modified-Since": random.choice(["garbage", "Mon, 30 Nov 2099 00:00:00 GMT"])},
                       {"If-Unmodified-Since": "Mon, 30 Nov 1999 00:00:00 GMT"}])
    m = random.choice(["GET", "HEAD", "PUT"])
    return (m, "/v1/storage/objects/rf/a.txt", b"hello" if m == "PUT" else None, "text/plain", h)

allroutes = ["/v1/sql", "/v1/ingest", "/v1/embed", "/v1/embed/models", "/v1/vectors/indexes", "/v1/vectors/indexes/rfv",
             "/v1/vectors/indexes/rfv/search", "/v1/pathway/memories", "/v1/pathway/search", "/v1/pathway/traces",
             "/v1/matrix/search", "/v1/matrix/indexes", "/v1/observer/events", "/v1/observer/stats",
             "/v1/chat", "/v1/chat/providers", "/v1/chat/completions", "/v1/catalog/datasets", "/v1/catalog/datasets/rf_docs",
             "/v1/storage/objects", "/v1/health", "/"]
def wrong_method():
    return (random.choice(["PATCH", "OPTIONS", "PUT", "DELETE", "POST", "TRACE", "FOO", "GET"]), random.choice(allroutes), None)
def unknown_path():
    return (random.choice(["GET", "POST"]), random.choice(["/v1/", "/v1", "/v2/sql", "/v1/sqlx", "/v1/storagex", "/x", "/v1/observer", "/v1/pathway", "/v1/matrix/x", "/v1/chat/api/x", "/v1/vectors/indexes/rfv/x", "/v1/storage"]) + random.choice(["", "/", "//", "/%00", "?a=%ff"]), None)

seeds = [
 ("POST", "/v1/sql", {"sql": "SELECT * FROM rf_docs WHERE n > ?", "params": [1], "format": "json", "max_rows": 10, "timeout_ms": 1000}),
 ("POST", "/v1/sql", {"sql": "SELECT 1", "format": "ndjson"}),
 ("POST", "/v1/embed", {"input": ["hello", "world"], "model": ""}),
 ("POST", "/v1/pathway/memories", {"messages": [{"role": "user", "content": "I live in Paris"}], "user_id": "u1", "metadata": {"a": 1}}),
 ("POST", "/v1/pathway/search", {"query": "where", "user_id": "u1", "limit": 5}),
 ("POST", "/v1/pathway/traces", {"run_id": "r1", "steps": [{"type": "tool", "name": "s", "input": "x", "output": "y"}]}),
 ("POST", "/v1/matrix/search", {"query": "fox", "datasets": ["rf_docs"], "k": 5, "mode": "hybrid", "where": "n > 1"}),
 ("POST", "/v1/observer/events", {"events": [{"ts": "2026-11-29T00:00:00Z", "service": "x", "op": "y", "status": 200, "duration_ms": 1.5, "request_id": "r", "attrs": {"a": "b"}}]}),
 ("POST", "/v1/chat", {"provider": "auto", "model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}),
 ("POST", "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}),
 ("POST", "/v1/catalog/datasets/rf_c/commit", {"base_version": 0, "mode": "append", "schema": [{"name": "a", "type": "INTEGER"}], "files": [{"key": "x/y.parquet", "rows": 1, "bytes": 10}]}),
]

def mutate(v, depth=0):
    r = random.random()
    if r < 0.25: return copy.deepcopy(v)
    if isinstance(v, dict) and v and r < 0.8:
        v = dict(v); k = random.choice(list(v.keys()))
        rr = random.random()
        if rr < 0.15: del v[k]
        elif rr < 0.25: v[random.choice(["extra", "x", k + "_", ""])] = random.choice(weird)
        else: v[k] = mutate(v[k], depth + 1)
        return v
    if isinstance(v, list) and v and r < 0.8:
        v = list(v); i = random.randrange(len(v))
        rr = random.random()
        if rr < 0.2: v = v * random.choice([2, 50])
        elif rr < 0.3: del v[i]
        else: v[i] = mutate(v[i], depth + 1)
        return v
    return copy.deepcopy(random.choice(weird))

RAW = [b"GET / HTTP/1.1\r\n\r\n", b"GET /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
       b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n", b"GARBAGE\r\n\r\n", b"GET /v1/health HTTP/9.9\r\nHost: x\r\n\r\n",
       b"GET /v1/%zz HTTP/1.1\r\nHost: x\r\n\r\n", b"GET http://evil/v1/health HTTP/1.1\r\nHost: x\r\n\r\n", b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       b"GET /v1/health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", b"GET /v1/health HTTP/1.1\r\nHo st: x\r\n\r\n", b"GET /v1/health HTTP/1.0\r\n\r\n",
       b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"sql\"", b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"]
def raw_req(data):
    s = socket.create_connection((H, P), timeout=15)
    t = time.time()
    try:
        s.sendall(data)
        out = b""
        s.settimeout(3)
        while True:
            try: b = s.recv(65536)
            except socket.timeout: break
            if not b: break
            out += b
        return out, time.time() - t
    except Exception as e:
        return b"EXC " + repr(e).encode(), time.time() - t
    finally: s.close()

def big_req(m, path, body, hdrs):
    import threading
    s = socket.create_connection((H, P), timeout=30)
    head = "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (m, path, len(body))
    for k, v in (hdrs or {}).items(): head += "%s: %s\r\n" % (k, v)
    def send():
        try: s.sendall(head.encode() + b"\r\n" + body)
        except OSError: pass
    th = threading.Thread(target=send, daemon=True); th.start()
    t = time.time()
    try:
        f = s.makefile("rb")
        line = f.readline()
        while line.startswith(b"HTTP/1.1 100"):
            while f.readline() not in (b"\r\n", b""): pass
            line = f.readline()
        st = int(line.split()[1]); hd = {}
        while True:
            l = f.readline()
            if l in (b"\r\n", b""): break
            k, _, v = l.decode("latin-1").partition(":"); hd[k.strip()] = v.strip()
        d = f.read(int(hd.get("Content-Length", "0")))
        return st, d, hd, time.time() - t
    except Exception as e:
        return -1, repr(e).encode(), {}, time.time() - t
    finally: s.close()

def versions():
    st, d, _, _ = req("GET", "/v1/health")
    try: return {k: v.get("version") for k, v in json.loads(d)["daemons"].items()}
    except Exception: return {"?": d[:200]}

bad = []; notes = []; stats = {}
v0 = versions()
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
for i in range(N):
    r = random.random(); hdrs = None; ct = "application/json"
    if r < 0.35:
        m, p, b = random.choice(seeds); b = mutate(copy.deepcopy(b))
        if random.random() < 0.05: hdrs = {"Expect": "100-continue"}
    elif r < 0.75:
        m, p, b = random.choice(gets)()
    elif r < 0.83:
        m, p, b, ct = ingest_req()
    elif r < 0.88:
        m, p, b, ct, hdrs = storage_hdr_req()
    elif r < 0.93:
        m, p, b = wrong_method()
    elif r < 0.96:
        m, p, b = unknown_path()
    elif r < 0.97:
        # a body over the 64 MiB default cap: 413 too_large, JSON
        m, p = "POST", random.choice(["/v1/sql", "/v1/pathway/memories", "/v1/observer/events", "/v1/embed", "/v1/matrix/search", "/v1/chat/completions", "/v1/pathway/traces"])
        b = b'{"x":"' + b"a" * (65 << 20) + b'"}'
        if random.random() < 0.5: hdrs = {"Expect": "100-continue"}
    else:
        data = random.choice(RAW)
        out, dt = raw_req(data)
        key = ("RAW", out[:12])
        stats[key] = stats.get(key, 0) + 1
        if out == b"" and b"Content-Length: 10" in data:
            continue  # a body still coming: the server waits for it (408 after the body stall bound, 60 s)
        if not (out.startswith(b"HTTP/1.1 ") or out.startswith(b"HTTP/1.0 ")) or dt > 14:
            bad.append(("raw", data[:120], out[:300], round(dt, 1)))
        else:
            st = int(out[9:12])
            if st >= 400:
                body = out.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in out else b""
                try:
                    e = json.loads(body)["error"]; assert e["kind"] and e["message"]
                except Exception:
                    notes.append(("raw-nonjson", data[:80], out[:300]))
            if st >= 500 and st not in (502, 503, 504, 505): bad.append(("raw5xx", data[:120], out[:300]))
        continue
    if isinstance(b, (dict, list)) or (b is not None and not isinstance(b, bytes)):
        try: body = json.dumps(b).encode()
        except Exception: continue
        if random.random() < 0.2:
            bb = bytearray(body)
            for _ in range(random.randint(1, 3)):
                op = random.random()
                if op < 0.3 and bb: bb[random.randrange(len(bb))] = random.randrange(256)
                elif op < 0.5 and bb: del bb[random.randrange(len(bb)):]
                else: bb[random.randrange(len(bb) + 1):random.randrange(len(bb) + 1)] = random.choice([b'\xff', b'{', b'[', b'"', b'1e999', b'-', b'\\u0000', b'}}'])
            body = bytes(bb)
    else:
        body = b
    if len(body or b"") > (64 << 20):
        st, d, rh, dt = big_req(m, p, body, hdrs)
        if st != 413: bad.append(("big body not 413", st, m, p, d[:300]))
    else:
        st, d, rh, dt = req(m, p, body, ct, hdrs)
    route = re.sub(r"\?.*", "", p)[:60]
    stats[(m, route, st)] = stats.get((m, route, st), 0) + 1
    ok = True; why = ""
    if st == -1: ok, why = False, "no answer"
    elif dt > 25: ok, why = False, "slow %.1fs" % dt
    elif st >= 500 and st not in (501, 502, 503, 504): ok, why = False, "5xx"
    elif st == 502 and "/chat" not in p and "/embed" not in p: ok, why = False, "502"
    if st >= 400 and m != "HEAD":
        ollama = p.startswith("/v1/chat/api/")
        try:
            j = json.loads(d)
            if ollama:
                assert isinstance(j["error"], str) and j["error"]
            else:
                e = j["error"]; assert e["kind"] and e["message"] and "request_id" in e
                if e["kind"] == "internal": ok, why = False, "internal"
                if st not in KINDS.get(e["kind"], set()): notes.append(("kind/status", st, e["kind"], m, p[:100]))
        except Exception:
            ok, why = False, "not the JSON error body"
    if st == 405 and not rh.get("Allow"): notes.append(("405 without Allow", m, p))
    if not ok:
        bad.append((why, st, m, p[:200], (body or b"")[:200], d[:300]))
v1 = versions()
if v0 != v1: bad.append(("versions changed", v0, v1))
seen = set()
for b in bad:
    k = (b[0], b[1], b[2], re.sub(r"\?.*|/[^/]*$", "", str(b[3]))) if b[0] not in ("raw", "raw5xx") else b[:2]
    if k in seen: continue
    seen.add(k); print("BAD", b)
seen = set()
for n in notes:
    k = n[:4]
    if k in seen: continue
    seen.add(k); print("NOTE", n)
for k in sorted(stats, key=str): print(k, stats[k])
print("bad", len(bad), "of", N)
