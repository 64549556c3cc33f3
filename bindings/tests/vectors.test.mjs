// The shared test vectors (tests/vectors/*.json), as the Rust and C runners read them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { api } from './target.mjs'

const dir = new URL('../../tests/vectors/', import.meta.url)
const num = (v) => (typeof v === 'string' ? { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity }[v] : v)

function outcome(f) {
  try {
    return { ok: f() }
  } catch (e) {
    if (!(e instanceof api.OvMemoryError)) throw e
    return { error: e.code }
  }
}

function run(store, step) {
  switch (step.op) {
    case 'add':
      return store.add(Float32Array.from(step.embedding.map(num)), step.text, {
        weight: step.weight === undefined ? undefined : num(step.weight),
        metadata: step.metadata,
        createdAt: step.created_at,
      })
    case 'get': {
      const m = store.get(step.id)
      if (m === null) throw new api.OvMemoryError('NOT_FOUND', `no memory with id ${step.id}`)
      return m
    }
    case 'delete':
      return store.delete(step.id)
    case 'count':
      return store.size
    case 'retrieve':
      return { ids: store.retrieve(step.embedding === null ? null : Float32Array.from(step.embedding), step.options).map((h) => h.id) }
    case 'context': {
      const r = store.context(step.embedding === null ? null : Float32Array.from(step.embedding), step.options)
      return { ids: r.items.map((i) => i.id), context: r.context }
    }
    case 'add_with': {
      const o = step.options
      return { id: store.add(Float32Array.from(step.embedding.map(num)), step.text, {
        weight: o.weight, metadata: o.metadata, createdAt: o.created_at, namespace: o.namespace, key: o.key,
        expiresAt: o.expires_at, ttlMs: o.ttl_ms, ...(o.namespaces === undefined ? {} : { namespaces: o.namespaces }),
      }) }
    }
    case 'add_batch_with': {
      const o = step.options
      const flat = Float32Array.from(step.embeddings.flat())
      return { ids: store.addBatch(flat, step.texts, { namespace: o.namespace, keys: o.keys, expiresAt: o.expires_at, ttlMs: o.ttl_ms }) }
    }
    case 'update':
      store.update(step.id, { ...step.patch, ...(step.embedding ? { embedding: step.embedding } : {}) })
      return {}
    case 'list': {
      const page = store.list(step.options)
      return { ids: page.memories.map((m) => m.id), next_after_id: page.next_after_id }
    }
    case 'count_with':
      return { count: store.count(step.options) }
    case 'get_many': {
      const all = store.getMany(step.ids)
      const col = (k) => all.map((m) => (m === null ? null : m[k]))
      return { ids: col('id'), texts: col('text'), namespaces: col('namespace'), keys: col('key'), weights: col('weight'), expires_at: col('expires_at') }
    }
    case 'delete_many':
      return { deleted: store.deleteMany(step.ids) }
    case 'delete_namespace':
      return { deleted: store.deleteNamespace(step.namespace) }
    case 'sweep':
      return { removed: store.sweep() }
    case 'namespaces':
      return { namespaces: store.namespaces() }
    case 'export': {
      const text = store.exportJsonl(step.options)
      return { ids: text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l).id) }
    }
    case 'import':
      return store.importJsonl(step.jsonl, step.options)
    case 'retrieve_many':
      return { ids: store.retrieveMany(step.queries, step.options).map((hits) => hits.map((h) => h.id)) }
    default:
      throw new Error(`unknown op ${step.op}`)
  }
}

/** Fields of a step's result that the vectors compare as JSON values (the new operations' outputs). */
const RESULT_FIELDS = ['next_after_id', 'texts', 'namespaces', 'keys', 'weights', 'expires_at', 'deleted', 'removed', 'imported', 'expired']

const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()

test('vector files are present', () => assert.ok(files.length >= 4))

for (const file of files) {
  const doc = JSON.parse(readFileSync(new URL(file, dir), 'utf8'))
  test(`vectors: ${doc.name}`, () => {
    if (doc.cases) {
      for (const c of doc.cases) {
        const r = outcome(() => new api.MemoryStore(c.config))
        assert.equal(r.error, c.expect.error, JSON.stringify(c.config))
      }
      return
    }
    const store = new api.MemoryStore(doc.config)
    for (const [i, step] of doc.steps.entries()) {
      const r = outcome(() => run(store, step))
      const want = step.expect
      assert.equal(r.error, want.error, `step ${i} (${step.op})`)
      if (want.error) continue
      const flat = typeof r.ok === 'object' && r.ok !== null && !('embedding' in r.ok)
      if ('id' in want) assert.equal(flat ? r.ok.id : r.ok, want.id, `step ${i}: id`)
      if ('count' in want) assert.equal(flat ? r.ok.count : r.ok, want.count, `step ${i}: count`)
      for (const k of RESULT_FIELDS) if (k in want) assert.deepEqual(r.ok[k], want[k], `step ${i}: ${k}`)
      if ('text' in want) assert.equal(r.ok.text, want.text, `step ${i}: text`)
      if ('weight' in want) assert.equal(r.ok.weight, want.weight, `step ${i}: weight`)
      if ('metadata' in want) assert.deepEqual(r.ok.metadata, want.metadata, `step ${i}: metadata`)
      if ('created_at' in want) assert.equal(r.ok.created_at, want.created_at, `step ${i}: created_at`)
      if ('ids' in want) assert.deepEqual(r.ok.ids, want.ids, `step ${i}: ids`)
      if ('context' in want) assert.equal(r.ok.context, want.context, `step ${i}: context`)
      if ('embedding' in want) assert.deepEqual(r.ok.embedding, Float32Array.from(want.embedding), `step ${i}: embedding`)
    }
  })
}
