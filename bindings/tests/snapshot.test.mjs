// Snapshots in JS (napi and wasm): round trips, corruption, files (Node), and a
// snapshot written by the C library (tests/c/test_qa.c) loading with identical results.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { api, target } from './target.mjs'

const { MemoryStore, OvMemoryError } = api
const repo = new URL('../../', import.meta.url)

function code(f) {
  try {
    f()
  } catch (e) {
    assert.ok(e instanceof OvMemoryError, String(e))
    return e.code
  }
  assert.fail('no error')
}

function sample() {
  const s = new MemoryStore({ embeddingDim: 4, maxDegree: 2 })
  const vs = [[1, 0, 0, 0], [0.9, 0.1, 0, 0], [0.8, 0.2, 0.1, 0], [0.7, 0.3, 0.2, 0.1], [0, 0, 1, 0]]
  vs.forEach((v, i) => s.add(v, `memory ${i} ✓`, { weight: 1 + i, metadata: i % 2 ? { i } : undefined }))
  s.delete(3)
  s.context([1, 0, 0, 0], { maxTokens: 100 })
  return s
}

const everything = (s) => s.config() && [...Array(10).keys()].map((i) => s.get(i + 1))

test('toBytes / fromBytes keep everything', () => {
  const s = sample()
  const bytes = s.toBytes()
  assert.ok(bytes instanceof Uint8Array)
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), 'OVMEMSNP')
  const t = MemoryStore.fromBytes(bytes)
  assert.deepEqual(everything(t), everything(s))
  // At alpha 1, P = S: everything but R (recency, which moves with the clock
  // between the two calls) must be identical.
  const withoutR = (hits) => hits.map(({ score: { R, ...rest }, ...h }) => ({ ...h, score: rest }))
  const q = [1, 0.1, 0, 0]
  assert.deepEqual(withoutR(t.retrieve(q, { topK: 4, alpha: 1 })), withoutR(s.retrieve(q, { topK: 4, alpha: 1 })))
  assert.deepEqual(t.metabolism(), s.metabolism())
  assert.equal(t.add([0, 1, 0, 0], 'next'), 6, 'ids stay unique')
  assert.deepEqual(MemoryStore.fromBuffer(bytes).size, 4)
  // Into an existing store.
  const u = new MemoryStore({ embeddingDim: 4, maxDegree: 2 })
  u.add([0, 1, 0, 0], 'replaced')
  u.loadBytes(bytes)
  assert.deepEqual(everything(u), everything(s))
})

test('corrupt or foreign bytes are MEMORY_CORRUPTION and change nothing', () => {
  const bytes = sample().toBytes()
  const s = new MemoryStore({ embeddingDim: 4, maxDegree: 2 })
  s.add([1, 0, 0, 0], 'keep')
  for (let i = 0; i < bytes.length; i += 7) {
    const b = bytes.slice()
    b[i] ^= 0xff
    assert.equal(code(() => MemoryStore.fromBytes(b)), 'MEMORY_CORRUPTION', `flip at ${i}`)
  }
  for (const len of [0, 7, 16, 40, bytes.length - 1]) {
    assert.equal(code(() => MemoryStore.fromBytes(bytes.subarray(0, len))), 'MEMORY_CORRUPTION', `length ${len}`)
  }
  const b = bytes.slice()
  b[b.length - 1] ^= 1
  assert.equal(code(() => s.loadBytes(b)), 'MEMORY_CORRUPTION')
  assert.equal(code(() => new MemoryStore({ embeddingDim: 5, maxDegree: 2 }).loadBytes(bytes)), 'MEMORY_CORRUPTION')
  for (const bad of ['bytes', [1, 2], null, new Float32Array(4)]) {
    assert.equal(code(() => MemoryStore.fromBytes(bad)), 'INVALID_DATA')
    assert.equal(code(() => s.loadBytes(bad)), 'INVALID_DATA')
  }
  assert.equal(s.size, 1)
  assert.equal(s.get(1).text, 'keep')
})

test('files: save, open, load, async variants (Node) or IO (browser build)', async () => {
  const s = sample()
  const dir = mkdtempSync(join(tmpdir(), 'ov-memory-js-'))
  const path = join(dir, 'memory.ovm')
  if (target === 'wasm') {
    assert.equal(code(() => s.save(path)), 'IO')
    assert.equal(code(() => MemoryStore.open(path)), 'IO')
    assert.equal(code(() => s.setAutosave(path, 1)), 'IO')
    return
  }
  s.save(path)
  assert.deepEqual(everything(MemoryStore.open(path)), everything(s))
  const t = new MemoryStore({ embeddingDim: 4, maxDegree: 2 })
  t.load(path)
  assert.deepEqual(everything(t), everything(s))
  s.add([0, 0, 0, 1], 'one more')
  await s.saveAsync(path)
  await t.loadAsync(path)
  assert.equal(t.size, 5)
  assert.deepEqual(readdirSync(dir), ['memory.ovm'], 'no temp files left')
  assert.equal(code(() => s.save(join(dir, 'missing', 'x.ovm'))), 'IO')
  assert.equal(code(() => t.load(join(dir, 'nope.ovm'))), 'IO')
  assert.equal(code(() => MemoryStore.open(join(dir, 'nope.ovm'))), 'IO')
  await assert.rejects(s.saveAsync(join(dir, 'missing', 'x.ovm')), (e) => e.code === 'IO')
  await assert.rejects(t.loadAsync(join(dir, 'nope.ovm')), (e) => e.code === 'IO')
  assert.equal(code(() => s.save('')), 'INVALID_DATA')
  assert.equal(t.size, 5, 'failed loads changed nothing')
  // Autosave every 2 changes.
  const auto = join(dir, 'auto.ovm')
  t.setAutosave(auto, 2)
  t.add([0, 1, 1, 0], 'first change')
  assert.equal(existsSync(auto), false)
  t.delete(1)
  assert.equal(MemoryStore.open(auto).size, 5)
  assert.equal(code(() => t.setAutosave(auto, 0)), 'INVALID_DATA')
  t.setAutosave(null)
})

test('a snapshot written by the C library gives the same retrieval results', () => {
  const snap = new URL('build/c_snapshot.ovm', repo)
  assert.ok(existsSync(snap), 'run the C tests first (make test-c writes build/c_snapshot.ovm)')
  // The C run scored as of a fixed `now` (a day after it ran); scoring as of the
  // same instant here makes every score part identical, however long ago that was.
  const { now, results: expected } = JSON.parse(readFileSync(new URL('build/c_snapshot_expected.json', repo), 'utf8'))
  assert.equal(typeof now, 'number')
  const store = MemoryStore.fromBytes(readFileSync(snap))
  const queries = readFileSync(new URL('tests/data/qa_coding.jsonl', repo), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  assert.equal(queries.length, expected.length)
  for (const [i, q] of queries.entries()) {
    const hits = store.retrieve(Float32Array.from(q.query_embedding), { topK: 3, now })
    assert.deepEqual(hits.map(({ score, ...h }) => h), expected[i].map(({ score, ...h }) => h), q.id)
    for (const [k, h] of hits.entries()) {
      const want = expected[i][k].score
      // S, C and W are bit for bit. R and P go through exp(), whose last bit
      // may differ between glibc (C, napi) and Rust's own libm (wasm).
      for (const f of ['S', 'C', 'W']) assert.equal(h.score[f], want[f], `${q.id} ${f}`)
      for (const f of ['R', 'P']) assert.ok(Math.abs(h.score[f] - want[f]) <= 1e-12 * Math.max(1, want[f]), `${q.id} ${f}`)
    }
  }
  // Moving the as-of time by a day changes recency (so `now` is really used) but not S.
  const q = Float32Array.from(queries[0].query_embedding)
  const all = store.size
  const base = store.retrieve(q, { topK: all, now })
  const later = new Map(store.retrieve(q, { topK: all, now: now + 86_400_000 }).map((h) => [h.id, h.score]))
  assert.equal(later.get(base[0].id).S, base[0].score.S)
  assert.ok(later.get(base[0].id).R < base[0].score.R, 'recency decays with the as-of time')
})

test('loading respects the limits of the store; a file never sets them', () => {
  const s = new MemoryStore({ embeddingDim: 4, maxNodes: 100_000 })
  for (let i = 0; i < 12; i++) s.add([1, i, 0, 0], `memory ${i}`)
  const bytes = s.toBytes()
  const t = new MemoryStore({ embeddingDim: 4, maxNodes: 10 })
  t.add([0, 1, 0, 0], 'keep')
  assert.equal(code(() => t.loadBytes(bytes)), 'RESOURCE_EXHAUSTION')
  assert.equal(t.size, 1)
  assert.equal(MemoryStore.fromBytes(bytes).config().max_nodes, 10_000, 'default limits, not the file\'s')
  assert.equal(MemoryStore.fromBytes(bytes, { embeddingDim: 4, maxNodes: 50 }).config().max_nodes, 50)
  assert.equal(code(() => MemoryStore.fromBytes(bytes, { embeddingDim: 4, maxNodes: 5 })), 'RESOURCE_EXHAUSTION')
  assert.equal(code(() => MemoryStore.fromBytes(bytes, { embeddingDim: 3 })), 'MEMORY_CORRUPTION')
  assert.equal(code(() => MemoryStore.fromBytes(bytes, { nope: 1 })), 'INVALID_DATA')
})
