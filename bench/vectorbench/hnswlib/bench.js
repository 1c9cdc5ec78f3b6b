// hnswlib-node baseline for bench/vectorbench: reads the same base.bin,
// queries.bin and gt.bin the Go driver exported, builds an HNSW index with
// the same M / ef_construction, sweeps ef with 1 and 2 threads (2 threads =
// two worker_threads, each with its own copy of the index loaded from a
// file), and writes DATA_DIR/hnswlib.json for the Go driver's table.
//
// usage: node bench.js DATA_DIR [M] [EF_CONSTRUCTION] [EF_LIST] [MIN_SECONDS]
'use strict';
const fs = require('fs');
const path = require('path');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const { HierarchicalNSW } = require('hnswlib-node');

function readMatrix(p) {
  const b = fs.readFileSync(p);
  if (b.toString('latin1', 0, 4) !== 'VBD1') throw new Error(p + ': not VBD1');
  const n = b.readUInt32LE(4), dims = b.readUInt32LE(8);
  // a view, not a copy: freeing a copied-from buffer mid-build would make
  // the RSS delta of the build meaningless
  const v = (b.byteOffset + 12) % 4 === 0
    ? new Float32Array(b.buffer, b.byteOffset + 12, n * dims)
    : new Float32Array(b.buffer.slice(b.byteOffset + 12, b.byteOffset + 12 + 4 * n * dims));
  return { n, dims, row: (i) => v.subarray(i * dims, (i + 1) * dims) };
}

function readGT(p) {
  const b = fs.readFileSync(p);
  if (b.toString('latin1', 0, 4) !== 'VBG1') throw new Error(p + ': not VBG1');
  const nq = b.readUInt32LE(4), k = b.readUInt32LE(8);
  const gt = [];
  for (let i = 0; i < nq; i++) {
    const s = new Set();
    for (let j = 0; j < k; j++) s.add(b.readUInt32LE(12 + 4 * (i * k + j)));
    gt.push(s);
  }
  return { k, gt };
}

function runQueries(index, qs, from, step, k) {
  let n = 0;
  for (let i = from; i < qs.length; i += step) { index.searchKnn(qs[i], k); n++; }
  return n;
}

if (!isMainThread) {
  // worker: load the index, wait for "go", run its share of the queries
  const { file, dims, qs, k, from, step } = workerData;
  const index = new HierarchicalNSW('cosine', dims);
  index.readIndexSync(file);
  parentPort.on('message', (m) => {
    index.setEf(m.ef);
    let n = 0;
    const t0 = process.hrtime.bigint();
    do {
      n += runQueries(index, qs, from, step, k);
    } while (Number(process.hrtime.bigint() - t0) / 1e9 < m.minSecs);
    parentPort.postMessage({ n });
  });
  parentPort.postMessage({ ready: true });
  return;
}

async function main() {
  const dir = process.argv[2] || '/root/.cache/lakehouse/vectorbench';
  const M = +(process.argv[3] || 16), efc = +(process.argv[4] || 200);
  const efs = (process.argv[5] || '10,20,40,80,120,160,240,320').split(',').map(Number);
  const minSecs = +(process.argv[6] || 1.5);
  const base = readMatrix(path.join(dir, 'base.bin'));
  const queries = readMatrix(path.join(dir, 'queries.bin'));
  const { k, gt } = readGT(path.join(dir, 'gt.bin'));
  const qs = [];
  for (let i = 0; i < queries.n; i++) qs.push(Array.from(queries.row(i)));

  if (global.gc) global.gc();
  const rss0 = process.memoryUsage().rss;
  const index = new HierarchicalNSW('cosine', base.dims);
  const t0 = process.hrtime.bigint();
  index.initIndex(base.n, M, efc, 100);
  for (let i = 0; i < base.n; i++) index.addPoint(Array.from(base.row(i)), i);
  const build = Number(process.hrtime.bigint() - t0) / 1e9;
  if (global.gc) global.gc();
  const rss1 = process.memoryUsage().rss;
  console.error(`hnswlib built ${base.n} in ${build.toFixed(1)}s, rss +${rss1 - rss0} B`);

  const out = { impl: 'hnswlib-node 3.0.0', n: base.n, build_seconds: build, bytes_per_vector: (rss1 - rss0) / base.n, rows: [] };
  const file = path.join(dir, 'hnswlib.index');
  index.writeIndexSync(file);
  const workers = await Promise.all([0, 1].map((from) => new Promise((resolve) => {
    const w = new Worker(__filename, { workerData: { file, dims: base.dims, qs, k, from, step: 2 } });
    w.once('message', () => resolve(w));
  })));
  const ask = (w, ef) => new Promise((resolve) => { w.once('message', resolve); w.postMessage({ ef, minSecs }); });

  for (const ef of efs) {
    index.setEf(ef);
    let hits = 0;
    for (let i = 0; i < qs.length; i++) {
      for (const id of index.searchKnn(qs[i], k).neighbors) if (gt[i].has(id)) hits++;
    }
    const recall = hits / (qs.length * k);
    let n = 0;
    const t1 = process.hrtime.bigint();
    do { n += runQueries(index, qs, 0, 1, k); } while (Number(process.hrtime.bigint() - t1) / 1e9 < minSecs);
    const qps1 = n / (Number(process.hrtime.bigint() - t1) / 1e9);
    out.rows.push({ impl: out.impl, ef, threads: 1, recall, qps: qps1 });
    const t2 = process.hrtime.bigint();
    const res = await Promise.all(workers.map((w) => ask(w, ef)));
    const qps2 = res.reduce((a, r) => a + r.n, 0) / (Number(process.hrtime.bigint() - t2) / 1e9);
    out.rows.push({ impl: out.impl, ef, threads: 2, recall, qps: qps2 });
    console.error(`hnswlib ef=${ef} recall=${recall.toFixed(4)} qps1=${qps1.toFixed(0)} qps2=${qps2.toFixed(0)}`);
  }
  for (const w of workers) await w.terminate();
  fs.unlinkSync(file);
  fs.writeFileSync(path.join(dir, 'hnswlib.json'), JSON.stringify(out, null, 1));
}

main().catch((e) => { console.error(e); process.exit(1); });
