// The whole JS API, run against the napi build and the wasm build alike.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { api, target } from './target.mjs'

const { MemoryStore, OvMemoryError, ERROR_CODES } = api

const unit = (i, dim = 8) => Float32Array.from({ length: dim }, (_, j) => Math.sin((i + 1) * (j + 0.5)))

function code(f) {
  try {
    f()
  } catch (e) {
    assert.ok(e instanceof OvMemoryError, `not an OvMemoryError: ${e}`)
    assert.ok(e instanceof Error)
    assert.equal(typeof e.context, 'object')
    assert.ok(e.message.startsWith(`${e.code}: `), e.message)
    return e.code
  }
  assert.fail('no error thrown')
}

async function codeAsync(p) {
  try {
    await p
  } catch (e) {
    assert.ok(e instanceof OvMemoryError, `not an OvMemoryError: ${e}`)
    return e.code
  }
  assert.fail('no rejection')
}

test('constructor takes an options object (camelCase or snake_case)', () => {
  const a = new MemoryStore({ embeddingDim: 8, maxNodes: 5, breaker: { openMs: 1000 } })
  assert.equal(a.config().embedding_dim, 8)
  assert.equal(a.config().breaker.open_ms, 1000)
  const b = new MemoryStore({ embedding_dim: 4, log_level: 'DEBUG' })
  assert.equal(b.config().embedding_dim, 4)
  assert.equal(b.logLevel, 'DEBUG')
  assert.equal(new MemoryStore().config().embedding_dim, 768)
  for (const bad of [{ embeddingDim: 0 }, { nope: 1 }, { embeddingDim: '8' }, { alpha: 2 }, [8], 'x']) {
    assert.equal(code(() => new MemoryStore(bad)), 'INVALID_DATA', JSON.stringify(bad))
  }
})

test('add, get, delete, size', () => {
  const s = new MemoryStore({ embeddingDim: 8 })
  assert.equal(s.size, 0)
  const id = s.add(unit(1), 'the user prefers tea', { weight: 0.9, metadata: { source: 'chat', turn: 3 } })
  assert.equal(id, 1)
  const id2 = s.add(Array.from(unit(2)), 'plain arrays work too')
  assert.equal(id2, 2)
  assert.equal(s.size, 2)
  const m = s.get(id)
  assert.equal(m.text, 'the user prefers tea')
  assert.equal(m.weight, 0.9)
  assert.deepEqual(m.metadata, { source: 'chat', turn: 3 })
  assert.ok(m.embedding instanceof Float32Array)
  assert.deepEqual(m.embedding, unit(1))
  assert.equal(m.access_count, 0)
  assert.ok(m.created_at > 0 && m.last_accessed === m.created_at)
  assert.deepEqual(s.get(id2).neighbors.length <= 6, true)
  assert.equal(s.get(999), null)
  s.delete(id)
  assert.equal(s.get(id), null)
  assert.equal(code(() => s.delete(id)), 'NOT_FOUND')
  assert.equal(s.size, 1)
  assert.equal(s.add(unit(3), 'ids are never reused'), 3)
  // A view into a larger buffer is read at its own offset.
  const big = new Float32Array(24)
  big.set(unit(7), 8)
  const v = s.add(big.subarray(8, 16), 'a subarray view')
  assert.deepEqual(s.get(v).embedding, unit(7))
})

test('addBatch takes one flat vector, all or nothing', async () => {
  const s = new MemoryStore({ embeddingDim: 8 })
  const flat = new Float32Array(24)
  for (let i = 0; i < 3; i++) flat.set(unit(i), i * 8)
  assert.deepEqual(s.addBatch(flat, ['a', 'b', 'c'], { weights: [1, 2, 3], metadata: [null, { k: 1 }, undefined] }), [1, 2, 3])
  assert.equal(s.get(2).weight, 2)
  assert.deepEqual(s.get(2).metadata, { k: 1 })
  assert.equal(code(() => s.addBatch(flat, ['a', '', 'c'])), 'INVALID_DATA')
  assert.equal(code(() => s.addBatch(flat, ['a', 'b'])), 'INVALID_DATA')
  assert.equal(code(() => s.addBatch(flat, ['a', 'b', 'c'], { weights: [1] })), 'INVALID_DATA')
  assert.equal(code(() => s.addBatch(flat, 'abc')), 'INVALID_DATA')
  assert.equal(s.size, 3)
  assert.deepEqual(await s.addBatchAsync(flat, ['d', 'e', 'f']), [4, 5, 6])
  assert.equal(await codeAsync(s.addBatchAsync(flat, ['d'])), 'INVALID_DATA')
})

test('malformed vectors give INVALID_DATA, never a crash, and change nothing', () => {
  const s = new MemoryStore({ embeddingDim: 4 })
  s.add([1, 0, 0, 0], 'keep me')
  const sparse = [1, 0, 0]
  sparse[5] = 1
  sparse.length = 4
  const cases = [
    'a string', 42, null, undefined, {}, [1, 2, 3], [1, 2, 3, 4, 5], [1, NaN, 0, 0], [Infinity, 0, 0, 0],
    [0, 0, 0, 0], [[1, 2], [3, 4]], [1, '2', 3, 4], [1, , 3, 4], sparse, new Float64Array(4).fill(1),
    new Int32Array(4).fill(1), new Uint8Array(4), new Float32Array([1, NaN, 1, 1]), [1e39, 0, 0, 0],
    [1n, 0, 0, 0], new Float32Array(0),
  ]
  for (const v of cases) {
    assert.equal(code(() => s.add(v, 'x')), 'INVALID_DATA', String(v))
    assert.equal(code(() => s.retrieve(v)), 'INVALID_DATA', String(v))
    assert.equal(code(() => s.context(v)), 'INVALID_DATA', String(v))
  }
  for (const t of ['', '   \n', 7, null, undefined, ['x'], { text: 'x' }]) {
    assert.equal(code(() => s.add([1, 0, 0, 0], t)), 'INVALID_DATA', String(t))
  }
  const cyclic = {}
  cyclic.self = cyclic
  for (const o of [{ weight: 0 }, { weight: -1 }, { weight: NaN }, { weight: '1' }, { metadata: [1] }, { metadata: 'x' },
    { metadata: 5 }, { metadata: cyclic }, { metadata: { n: 1n } }, { metadata: () => 1 }, { timeoutMs: 0 }, { timeoutMs: 'x' }]) {
    assert.equal(code(() => s.add([1, 0, 0, 0], 'x', o)), 'INVALID_DATA', JSON.stringify(Object.keys(o)))
  }
  for (const id of ['1', -1, 1.5, NaN, null, {}]) {
    assert.equal(code(() => s.get(id)), 'INVALID_DATA', String(id))
    assert.equal(code(() => s.delete(id)), 'INVALID_DATA', String(id))
  }
  for (const o of [{ topK: 0 }, { alpha: 1.5 }, { alpha: -0.1 }, { nope: 1 }, { topK: 'x' }, [1], 'x']) {
    assert.equal(code(() => s.retrieve([1, 0, 0, 0], o)), 'INVALID_DATA', JSON.stringify(o))
  }
  for (const o of [{ maxTokens: 0 }, { depth: 99 }, { candidates: 0 }, { nope: 1 }]) {
    assert.equal(code(() => s.context([1, 0, 0, 0], o)), 'INVALID_DATA', JSON.stringify(o))
  }
  assert.equal(code(() => s.setLogLevel('LOUD')), 'INVALID_DATA')
  assert.equal(code(() => s.resizeMetabolism(0)), 'INVALID_DATA')
  assert.equal(code(() => s.onLog('not a function')), 'INVALID_DATA')
  // Nothing changed, and the store is still usable.
  assert.equal(s.size, 1)
  assert.equal(s.get(1).text, 'keep me')
  assert.equal(s.metrics().circuit_breaker.consecutive_failures, 0)
  assert.equal(s.metrics().metabolism.used_tokens, 0)
  assert.equal(s.add([0, 1, 0, 0], 'still works'), 2)
})

test('retrieve ranks by the documented score with the breakdown', async () => {
  const s = new MemoryStore({ embeddingDim: 3 })
  const a = s.add([1, 0, 0], 'east', { weight: 2 })
  const b = s.add([0.9, 0.1, 0], 'east-ish')
  s.add([0, 0, 1], 'up')
  const hits = s.retrieve([1, 0, 0], { topK: 2, alpha: 1 })
  assert.deepEqual(hits.map((h) => h.id), [a, b])
  for (const k of ['S', 'C', 'R', 'W', 'P']) assert.equal(typeof hits[0].score[k], 'number')
  assert.ok(Math.abs(hits[0].score.S - 1) < 1e-6)
  assert.equal(hits[0].score.W, 2)
  assert.deepEqual((await s.retrieveAsync([1, 0, 0], { top_k: 2, alpha: 1 })).map((h) => h.id), [a, b])
  assert.equal(s.retrieve([1, 0, 0], { topK: 100 }).length, 3)
})

test('retrieve hits (packed, no JSON) equal the JSON form, whatever the texts hold', async () => {
  const s = new MemoryStore({ embeddingDim: 8 })
  const texts = ['plain ascii', 'emoji 🐢🐢 and ŻÓŁW', '"quotes", \\ back\nslash', 'x', '日本語のテキスト']
  texts.forEach((t, i) =>
    s.add(unit(i), t, {
      metadata: i % 2 ? { tag: `ü-${i}`, list: [1, '🐢', null], nested: { deep: true } } : undefined,
      namespace: i === 4 ? 'ńs-🐢' : undefined,
    }),
  )
  // (As of one fixed time: the two calls run at different moments.)
  const now = Date.now() + 1000
  for (const o of [{ topK: 5 }, { topK: 5, text: 'emoji zółw quotes' }, { topK: 1, namespace: 'ńs-🐢' }, { topK: 5, namespace: 'none' }]) {
    const options = { ...o, now }
    const packed = s.retrieve(unit(1), options)
    const viaJson = await s.retrieveAsync(unit(1), options)
    assert.deepEqual(packed, viaJson, JSON.stringify(options))
    assert.equal(JSON.stringify(packed), JSON.stringify(viaJson), 'same keys in the same order, same numbers')
  }
  assert.equal(s.retrieve(unit(1), { topK: 5 }).length, 4)
  assert.equal(s.retrieve(unit(1), { topK: 1, namespace: 'ńs-🐢' })[0].text, '日本語のテキスト')
})

test('context assembles, charges the metabolism and reports guardrails', async () => {
  const s = new MemoryStore({ embeddingDim: 3, budgetTokens: 1000 })
  const a = s.add([1, 0, 0], 'the deploy runs on Tuesdays')
  s.add([0.999, 0.01, 0], 'the deploy runs on Tuesdays') // duplicate text
  const r = s.context([1, 0, 0], { maxTokens: 100, includeDates: false })
  assert.deepEqual(r.items.map((i) => i.id), [a])
  assert.equal(r.items[0].trigger, 'floor', 'two memories: no outlier, the floor takes the best')
  assert.equal(r.items[0].hops, 0)
  assert.equal(r.guardrails.redundancy, 1)
  assert.equal(r.context, 'the deploy runs on Tuesdays')
  assert.equal(r.tokens_used, 7)
  assert.equal(r.metabolism.used_tokens, 7)
  assert.equal(s.get(a).access_count, 1)
  const r2 = await s.contextAsync([1, 0, 0], { maxTokens: 100, separator: ' | ', includeDates: false })
  assert.equal(r2.items.length, 1)
  assert.equal(s.metabolism().used_tokens, 14)
  s.resizeMetabolism(10)
  assert.equal(s.metabolism().state, 'EMERGENCY')
  s.resetMetabolism()
  assert.equal(s.metabolism().state, 'HEALTHY')
  assert.equal(s.metrics().redundancy_filters, 2)
})

test('health, metrics and Prometheus text', () => {
  const s = new MemoryStore({ embeddingDim: 768 })
  s.add(new Float32Array(768).fill(0.5), 'text', { weight: 0.9 })
  const h = s.health()
  assert.equal(h.status, 'HEALTHY')
  assert.equal(h.circuit_breaker, 'CLOSED')
  assert.deepEqual(h.reasons, [])
  assert.match(h.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  const json = s.healthJson()
  assert.ok(json.length < 512)
  assert.deepEqual(Object.keys(JSON.parse(json)), ['status', 'error_rate_pct', 'caller_error_rate_pct', 'circuit_breaker', 'reasons', 'metrics', 'timestamp'])
  assert.equal(code(() => s.get('x')), 'INVALID_DATA')
  const m = s.metrics()
  for (const k of ['queries_processed', 'qps', 'avg_latency_ms', 'p50_latency_ms', 'p95_latency_ms', 'p99_latency_ms',
    'max_latency_ms', 'error_count', 'error_rate_pct', 'error_breakdown', 'uptime_seconds', 'operations',
    'drift_detections', 'loop_preventions', 'redundancy_filters', 'fractal_overflows', 'node_count', 'edge_count',
    'memory_estimate_bytes', 'capacity_pct', 'circuit_breaker', 'metabolism']) {
    assert.ok(k in m, k)
  }
  assert.equal(m.node_count, 1)
  assert.equal(m.operations.add.count, 1)
  assert.match(s.prometheus(), /^ov_memory_memories 1$/m)
  assert.match(s.prometheus(), /^ov_memory_calls_total\{operation="add"\} 1$/m)
  assert.match(s.openmetrics(), /^# TYPE ov_memory_calls counter\n[^]*# EOF\n$/m)
})

test('logs reach onLog as JSON records after the call; a throwing callback changes nothing', async () => {
  const s = new MemoryStore({ embeddingDim: 2 })
  const records = []
  s.onLog((r, line) => {
    records.push(r)
    assert.equal(JSON.parse(line).message, r.message)
    throw new Error('host bug')
  })
  s.setLogLevel('DEBUG')
  const id = s.add([1, 0], 'secret "text" \n with \u0000 bytes')
  assert.equal(s.get(id).text, 'secret "text" \n with \u0000 bytes')
  await new Promise((r) => setTimeout(r, 50))
  assert.ok(records.length >= 1, 'callback ran')
  assert.ok(records.some((r) => r.level === 'DEBUG' && r.fields.text === 'secret "text" \n with \u0000 bytes'))
  for (const r of records) assert.deepEqual(Object.keys(r), ['timestamp', 'level', 'message', 'fields'])
  s.setLogLevel('INFO')
  records.length = 0
  s.add([0, 1], 'secret again')
  await new Promise((r) => setTimeout(r, 50))
  assert.ok(records.length >= 1)
  assert.ok(records.every((r) => !JSON.stringify(r).includes('secret')), 'text only at DEBUG')
  s.onLog(null)
  assert.equal(s.size, 2)
})

test('many concurrent async calls lose nothing', async () => {
  const s = new MemoryStore({ embeddingDim: 16 })
  const adds = Array.from({ length: 200 }, (_, i) => s.addAsync(unit(i, 16), `memory ${i}`))
  const reads = Array.from({ length: 50 }, (_, i) => s.retrieveAsync(unit(i, 16), { topK: 3 }))
  const ctxs = Array.from({ length: 20 }, (_, i) => s.contextAsync(unit(i, 16), { maxTokens: 50 }))
  const ids = await Promise.all(adds)
  await Promise.all([...reads, ...ctxs])
  assert.equal(new Set(ids).size, 200)
  assert.equal(s.size, 200)
  for (const [i, id] of ids.entries()) assert.equal(s.get(id).text, `memory ${i}`)
  assert.equal(s.metrics().operations.add.count, 200)
})

test('every error code reaches JS with code and context', async () => {
  assert.deepEqual(ERROR_CODES, ['INVALID_DATA', 'NOT_FOUND', 'RESOURCE_EXHAUSTION', 'TIMEOUT', 'CIRCUIT_OPEN',
    'MEMORY_CORRUPTION', 'IO', 'INTERNAL'])
  const s = new MemoryStore({ embeddingDim: 2, maxNodes: 1 })
  const e1 = (() => { try { s.add([1, 2, 3], 'x') } catch (e) { return e } })()
  assert.equal(e1.code, 'INVALID_DATA')
  assert.deepEqual(e1.context, { field: 'embedding', expected: 2, got: 3 })
  assert.equal(code(() => s.delete(5)), 'NOT_FOUND')
  s.add([1, 0], 'one')
  const e3 = (() => { try { s.add([0, 1], 'two') } catch (e) { return e } })()
  assert.equal(e3.code, 'RESOURCE_EXHAUSTION')
  assert.equal(e3.context.limit, 1)
  const { timeout, circuitOpen } = await import(`./timeout_${target}.mjs`)
  const e4 = await timeout(api)
  assert.equal(e4.code, 'TIMEOUT')
  assert.equal(e4.context.timeout_ms, 1)
  assert.equal(await circuitOpen(api), 'CIRCUIT_OPEN')
  const bad = new MemoryStore({ embeddingDim: 2 }).toBytes()
  bad[bad.length - 1] ^= 1
  const e6 = (() => { try { MemoryStore.fromBytes(bad) } catch (e) { return e } })()
  assert.equal(e6.code, 'MEMORY_CORRUPTION')
  assert.equal(e6.context.check, 'checksum')
  const e7 = (() => { try { s.save('/nonexistent-dir/x.ovm') } catch (e) { return e } })()
  assert.equal(e7.code, 'IO')
  // INTERNAL (a caught panic in the engine; no input reaches one) arrives through
  // the same protocol as every code above: make the native class report one,
  // and also fail in a way outside the protocol, and check what JS sees.
  const native = target === 'wasm'
    ? (await import('../web/dist/web/pkg/ov_memory_wasm.js')).NativeStore
    : createRequire(import.meta.url)('../node/npm/linux-x64-gnu/ov-memory.linux-x64-gnu.node').NativeStore
  const original = native.prototype.metrics
  try {
    native.prototype.metrics = () => {
      throw new Error(JSON.stringify({ code: 'INTERNAL', message: 'internal error in metrics: boom', context: { operation: 'metrics' } }))
    }
    const e8 = (() => { try { s.metrics() } catch (e) { return e } })()
    assert.equal(e8.code, 'INTERNAL')
    assert.deepEqual(e8.context, { operation: 'metrics' })
    native.prototype.metrics = () => { throw new Error('unreachable') } // e.g. a trapped wasm instance
    assert.equal(code(() => s.metrics()), 'INTERNAL')
  } finally {
    native.prototype.metrics = original
  }
  assert.equal(s.metrics().node_count, 1)
})

test('free() and Symbol.dispose release the store', () => {
  const s = new MemoryStore({ embeddingDim: 2 })
  s.add([1, 0], 'x')
  s.free()
  s.free()
  assert.equal(code(() => s.size), 'INVALID_DATA')
  const t = new MemoryStore({ embeddingDim: 2 })
  const dispose = Symbol.dispose ?? Symbol.for('Symbol.dispose')
  t[dispose]()
  assert.equal(code(() => t.add([1, 0], 'x')), 'INVALID_DATA')
})

test('caller-given time: createdAt on add and addBatch, now on retrieve and context', () => {
  const s = new MemoryStore({ embeddingDim: 8 })
  const day = 86_400_000
  const t0 = Date.UTC(2023, 4, 8)
  assert.equal(s.add(unit(1), 'old', { createdAt: t0 }), 1)
  assert.deepEqual(s.addBatch([...unit(2), ...unit(3)], ['b', 'c'], { createdAt: [t0 + day, t0 + 2 * day] }), [2, 3])
  assert.equal(s.get(1).created_at, t0)
  assert.equal(s.get(3).created_at, t0 + 2 * day)
  const at = (now) => new Map(s.retrieve(unit(1), { topK: 3, alpha: 0.5, now }).map((h) => [h.id, h.score.R]))
  const r = at(t0 + 30 * day)
  assert.ok(r.get(3) > r.get(2) && r.get(2) > r.get(1), 'newer is more recent as of the same time')
  assert.deepEqual(at(t0 + 30 * day), r, 'same now, same scores, whatever the clock says')
  const ctx = s.context(unit(1), { now: t0 + day })
  assert.ok(ctx.items.length >= 1)
  // Bad times are INVALID_DATA and change nothing.
  for (const createdAt of [-1, 1.5, NaN, Date.now() + 3_600_000, '2023-05-08']) {
    assert.equal(code(() => s.add(unit(4), 'x', { createdAt })), 'INVALID_DATA', String(createdAt))
  }
  assert.equal(code(() => s.addBatch(unit(4), ['x'], { createdAt: [1, 2] })), 'INVALID_DATA')
  assert.equal(code(() => s.addBatch(unit(4), ['x'], { createdAt: 5 })), 'INVALID_DATA')
  for (const now of [-1, 'yesterday']) {
    assert.equal(code(() => s.retrieve(unit(1), { now })), 'INVALID_DATA', String(now))
    assert.equal(code(() => s.context(unit(1), { now })), 'INVALID_DATA', String(now))
  }
  assert.equal(s.size, 3)
})

test('a vector element that cannot be read is INVALID_DATA, not INTERNAL', () => {
  const s = new MemoryStore({ embeddingDim: 4 })
  const hostile = [0.1, 0.2, 0.3, 0.4]
  Object.defineProperty(hostile, 2, { get() { throw new Error('getter says no') } })
  assert.equal(code(() => s.add(hostile, 'x')), 'INVALID_DATA')
  assert.equal(code(() => s.retrieve(hostile)), 'INVALID_DATA')
  const trap = new Proxy([0.1, 0.2, 0.3, 0.4], { has() { throw new Error('trap') } })
  assert.equal(code(() => s.add(trap, 'x')), 'INVALID_DATA')
  assert.equal(s.size, 0)
})

test('async calls use the vector as it was when called', async () => {
  const s = new MemoryStore({ embeddingDim: 4 })
  const v = new Float32Array([1, 0, 0, 0])
  const pending = s.addAsync(v, 'east')
  v.set([0, 0, 0, 0]) // would be a zero vector if read after the await
  assert.equal(await pending, 1)
  assert.deepEqual(Array.from(s.get(1).embedding), [1, 0, 0, 0])
  const q = new Float32Array([1, 0, 0, 0])
  const hits = s.retrieveAsync(q, { topK: 1, alpha: 1 })
  q.set([0, 0, 0, 0])
  assert.equal((await hits)[0].score.S, 1)
  const flat = new Float32Array([0, 1, 0, 0])
  const batch = s.addBatchAsync(flat, ['north'])
  flat.fill(0)
  assert.deepEqual(await batch, [2])
})

test('options and settings are JSON objects in every front-end: no empty text, no duplicate keys', async () => {
  const { NativeStore } = target === 'wasm'
    ? await import('../web/dist/web/pkg/ov_memory_wasm.js') // initialised by the package's `ready`
    : createRequire(import.meta.url)('../node/npm/linux-x64-gnu/ov-memory.linux-x64-gnu.node')
  assert.throws(() => new NativeStore(''), (e) => JSON.parse(e.message).code === 'INVALID_DATA')
  assert.throws(() => new NativeStore('{"embedding_dim": 4, "embedding_dim": 8}'), (e) => JSON.parse(e.message).code === 'INVALID_DATA')
  const n = new NativeStore('{"embedding_dim": 4}')
  const q = new Float32Array([1, 0, 0, 0])
  for (const bad of ['', 'null', '[]', '{"top_k": 1, "top_k": 2}']) {
    assert.throws(() => n.retrieve(q, bad), (e) => JSON.parse(e.message).code === 'INVALID_DATA', bad)
  }
  assert.equal(JSON.parse(n.retrieve(q, '{}')).length, 0)
  // The public surface passes {} for absent options.
  const s = new MemoryStore({ embeddingDim: 4 })
  assert.deepEqual(s.retrieve(q), [])
  assert.equal(new MemoryStore().config().embedding_dim, 768)
})

test('topK crosses on its own or inside the options text, with the same results and errors', () => {
  const s = new MemoryStore({ embeddingDim: 8 })
  for (let i = 0; i < 6; i++) s.add(unit(i), `memory ${i}`, { metadata: { i } })
  const q = unit(2)
  // Each retrieve counts an access (a prior), so successive calls compare by id and similarity.
  const same = (a, b) => assert.deepEqual(s.retrieve(q, a).map((h) => [h.id, h.score.S]), s.retrieve(q, b).map((h) => [h.id, h.score.S]))
  assert.equal(s.retrieve(q, { topK: 3 }).length, 3)
  same({ topK: 3 }, { top_k: 3 })
  same({ topK: 4, alpha: 1 }, { top_k: 4, alpha: 1 })
  same({ topK: 2, filter: { i: { $gte: 3 } } }, { top_k: 2, filter: { i: { $gte: 3 } } })
  same({ topK: 1e6 }, { top_k: 1e6 })
  assert.equal(s.retrieve(q, { topK: undefined }).length, 5)
  for (const bad of [{ topK: 0 }, { topK: 2.5 }, { topK: -1 }, { topK: 3, top_k: 3 }, { topK: '3' }, { topK: 1e300 }, { topK: 1, k: 1 }]) {
    assert.equal(code(() => s.retrieve(q, bad)), 'INVALID_DATA', JSON.stringify(bad))
  }
})

test('a full store answers RESOURCE_EXHAUSTION and stays usable', () => {
  const s = new MemoryStore({ embeddingDim: 4, maxMemoryMb: 2 })
  const text = 'x'.repeat(200_000)
  let added = 0
  let err
  for (let i = 0; i < 100 && !err; i++) {
    try {
      s.add([1, i, 0, 0], text)
      added++
    } catch (e) {
      err = e
    }
  }
  assert.equal(err?.code, 'RESOURCE_EXHAUSTION')
  assert.ok(added >= 5)
  assert.equal(s.size, added)
  assert.equal(s.retrieve([1, 0, 0, 0], { topK: 1 }).length, 1)
  s.delete(1)
  assert.equal(s.add([0, 1, 0, 0], 'small'), added + 1)
  assert.ok(MemoryStore.fromBytes(s.toBytes()).size === added)
  // The browser build has a ceiling even when none is set (wasm memory ends at 4 GiB).
  const d = new MemoryStore({ embeddingDim: 4 }).config().max_memory_mb
  if (target === 'wasm') {
    assert.equal(d, 1024)
    assert.equal(code(() => new MemoryStore({ embeddingDim: 4, maxMemoryMb: 4096 })), 'INVALID_DATA')
  } else {
    assert.equal(d, null)
  }
})

test('each native store reports its memory to the garbage collector and gives it back', { skip: target === 'wasm' && 'wasm memory is one ArrayBuffer' }, () => {
  const { NativeStore } = createRequire(import.meta.url)('../node/npm/linux-x64-gnu/ov-memory.linux-x64-gnu.node')
  const external = () => NativeStore.externalMemory()
  // Measured store by store (other tests' stores may be collected meanwhile): the median step.
  const text = 'y'.repeat(1_000_000)
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1]
  const stores = []
  const grew = []
  for (let i = 0; i < 9; i++) {
    const b = external()
    const s = new MemoryStore({ embeddingDim: 8 })
    s.add(unit(i), text)
    grew.push(external() - b)
    stores.push(s)
  }
  // Each store: its latency histograms (~0.23 MiB) plus what it holds (1 MB of text here).
  assert.ok(median(grew) > 1_100_000, `a store reported ${median(grew)} bytes`)
  const gave = stores.map((s) => {
    const b = external()
    s.free()
    return b - external()
  })
  assert.ok(median(gave) > 1_100_000, `free() gave back ${median(gave)} bytes`)
  assert.equal(code(() => stores[0].size), 'INVALID_DATA')
})

test('text queries: alone or with a vector, in context too, with dates', () => {
  const s = new MemoryStore({ embeddingDim: 3 })
  const t0 = Date.UTC(2023, 4, 8)
  const group = s.add([0, 1, 0], 'Caroline went to the LGBTQ support group', { createdAt: t0 })
  s.add([1, 0, 0], 'Melanie painted a sunrise', { createdAt: t0 })
  const hits = s.retrieve(null, { text: 'When did Caroline go to the support group?', topK: 1 })
  assert.equal(hits[0].id, group)
  assert.ok(hits[0].score.L > 0 && hits[0].score.S === 0)
  assert.equal(typeof hits[0].score.rel, 'number')
  assert.equal(hits[0].created_at, t0)
  const ctx = s.context(null, { text: 'support group', minItems: 1, maxItems: 1 })
  assert.equal(ctx.context, '[2023-05-08] Caroline went to the LGBTQ support group')
  assert.equal(code(() => s.retrieve(null, {})), 'INVALID_DATA')
  assert.equal(code(() => s.retrieve(null, { text: 'the of and' })), 'INVALID_DATA')
  assert.equal(code(() => s.context([1, 0, 0], { minItems: 9, maxItems: 8 })), 'INVALID_DATA')
  assert.equal(code(() => s.retrieve([1, 0, 0], { hybridWeight: 2 })), 'INVALID_DATA')
})

test('a token counter from JS replaces the default estimate; a broken one is INVALID_DATA', async () => {
  const s = new MemoryStore({ embeddingDim: 3 })
  s.add([1, 0, 0], 'one two three four five', { createdAt: Date.UTC(2023, 4, 8) })
  const words = (t) => t.split(/\s+/).length
  const r = s.context([1, 0, 0], { tokenCounter: words })
  assert.equal(r.tokens_used, 6, '[2023-05-08] and five words')
  const ra = await s.contextAsync([1, 0, 0], { tokenCounter: words, includeDates: false })
  assert.equal(ra.tokens_used, 5)
  assert.equal(api.estimateTokens('abcdefgh'), 2)
  assert.equal(api.estimateTokens('ż'), 1)
  const used = s.metabolism().used_tokens
  for (const bad of [() => { throw new Error('no') }, () => -1, () => 1.5, () => 'x', () => NaN]) {
    assert.equal(code(() => s.context([1, 0, 0], { tokenCounter: bad })), 'INVALID_DATA')
  }
  assert.equal(code(() => s.context([1, 0, 0], { tokenCounter: 5 })), 'INVALID_DATA')
  assert.equal(s.metabolism().used_tokens, used, 'failed calls charged nothing')
})

// ---------------------------------------------------------------- managing memories

test("the README's managing-memories snippets run and print what they say", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const blocks = [...readme.matchAll(/<!-- manage-js -->\s*```js\n([\s\S]*?)```/g)].map((m) => m[1])
  assert.ok(blocks.length >= 6, 'one JS snippet per feature')
  const store = new MemoryStore({ embeddingDim: 3 })
  const out = []
  const log = (...args) => out.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '))
  // eslint-disable-next-line no-new-func
  new Function('store', 'MemoryStore', 'console', blocks.join('\n'))(store, MemoryStore, { log })
  const text = out.join('\n')
  for (const want of [
    'alice sees: ["Alice prefers green tea"]',
    'namespaces: {"alice":1,"bob":1}',
    'big invoices: ["Invoice 1042 is overdue"]',
    'not invoices: 1',
    'upsert kept the id: true',
    'updated: Favourite colour: dark green',
    'swept now: 0',
    'imported: 2',
    'two answers: ["Alice prefers green tea","Favourite colour: dark green"]',
  ]) assert.ok(out.includes(want), `missing "${want}" in:\n${text}`)
  store.free()
})

test('namespaces, filters, update, list, export/import and retrieveMany agree with one another', async () => {
  const s = new MemoryStore({ embeddingDim: 8 })
  for (let i = 0; i < 30; i++) {
    s.add(unit(i), `memory ${i} about ${i % 2 ? 'tea' : 'chess'}`, { namespace: `u${i % 3}`, metadata: { i, odd: i % 2 === 1 }, key: i < 3 ? `k${i}` : undefined })
  }
  assert.deepEqual(s.namespaces(), { u0: 10, u1: 10, u2: 10 })
  assert.equal(s.count(), 0, 'the default namespace is empty')
  const hits = s.retrieve(unit(4), { namespace: ['u0', 'u1'], filter: { odd: true }, topK: 30 })
  assert.ok(hits.length > 0 && hits.every((h) => h.metadata.odd && ['u0', 'u1'].includes(h.namespace)))
  assert.equal(hits.length, s.count({ namespace: ['u0', 'u1'], filter: { odd: true } }))
  // A snake_case key works as its camelCase twin; an unknown key is refused.
  assert.equal(s.add(unit(0), 'replaced', { namespace: 'u0', key: 'k0', created_at: 1_600_000_000_000 }), 1)
  assert.equal(s.get(1).created_at, 1_600_000_000_000)
  assert.equal(code(() => s.add(unit(0), 'x', { namespaces: 'u0' })), 'INVALID_DATA')
  assert.equal(code(() => s.add(unit(0), 'x', { ttlMs: 5, ttl_ms: 5 })), 'INVALID_DATA')
  // Update keeps identity; a bad update changes nothing.
  const before = s.exportJsonl()
  assert.equal(code(() => s.update(1, { text: 'fine', weight: -1 })), 'INVALID_DATA')
  assert.equal(code(() => s.update(1, { embedding: [1, 2] })), 'INVALID_DATA')
  assert.equal(code(() => s.update(999, { text: 'x' })), 'NOT_FOUND')
  assert.equal(code(() => s.update(1, null)), 'INVALID_DATA')
  assert.equal(s.exportJsonl(), before)
  s.update(1, { embedding: unit(20), metadata: null, expiresAt: Date.now() + 3_600_000 })
  const m = s.get(1)
  assert.equal(m.metadata, null)
  assert.ok(m.expires_at > Date.now())
  assert.deepEqual(Array.from(m.embedding), Array.from(unit(20)))
  // Pages cover everything once.
  const seen = []
  let afterId
  for (;;) {
    const page = s.list({ namespace: ['u0', 'u1', 'u2'], limit: 7, afterId })
    seen.push(...page.memories.map((x) => x.id))
    if (page.next_after_id === null) break
    afterId = page.next_after_id
  }
  assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => i + 1))
  assert.deepEqual(s.getMany([3, 999, 2]).map((x) => x && x.id), [3, null, 2])
  // Export / import: same results in a new store.
  const copy = new MemoryStore({ embeddingDim: 8 })
  assert.deepEqual(copy.importJsonl(s.exportJsonl()), { imported: 30, expired: 0 })
  const now = Date.now()
  for (const ns of ['u0', 'u1', 'u2']) {
    const o = { namespace: ns, text: 'tea', topK: 5, now }
    assert.deepEqual(copy.retrieve(unit(7), o).map((h) => [h.id, h.score.P]), s.retrieve(unit(7), o).map((h) => [h.id, h.score.P]))
  }
  assert.equal(code(() => copy.importJsonl('{"id": 1, "text": "used", "embedding": [1,0,0,0,0,0,0,0]}')), 'INVALID_DATA')
  assert.equal(code(() => copy.importJsonl('{"text": 1}\n', { keepIds: false })), 'INVALID_DATA')
  // retrieveMany = one retrieve per query, sync and async.
  const queries = [{ embedding: unit(1) }, { text: 'chess' }, { embedding: Array.from(unit(5)), text: 'tea' }]
  const one = queries.map((q) => s.retrieve(q.embedding ?? null, { namespace: 'u1', topK: 4, text: q.text, now }))
  assert.deepEqual(s.retrieveMany(queries, { namespace: 'u1', topK: 4, now }), one)
  assert.deepEqual(await s.retrieveManyAsync(queries, { namespace: 'u1', topK: 4, now }), one)
  assert.equal(code(() => s.retrieveMany([])), 'INVALID_DATA')
  assert.equal(code(() => s.retrieveMany([{ text: 'x' }], { text: 'y' })), 'INVALID_DATA')
  assert.equal(code(() => s.retrieveMany([{ embedding: 'no' }])), 'INVALID_DATA')
  assert.equal(code(() => s.retrieveMany('no')), 'INVALID_DATA')
  // Deleting.
  assert.equal(s.deleteMany([2, 2, 999]), 1)
  assert.equal(s.deleteNamespace('u2'), 10)
  assert.deepEqual(s.hubs('u2'), [])
  assert.ok(s.hubs('u0').length >= 1)
  assert.equal(s.metrics().namespaces.u2, undefined)
  assert.equal(s.sweep(), 0)
  assert.equal(code(() => s.deleteNamespace(5)), 'INVALID_DATA')
  assert.equal(code(() => s.getMany('1')), 'INVALID_DATA')
  assert.equal(code(() => s.deleteMany([1.5])), 'INVALID_DATA')
  copy.free()
  s.free()
})
