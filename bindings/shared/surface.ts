/**
 * OV-Memory's JavaScript API, shared by the Node package (napi-rs) and the
 * browser package (WebAssembly). Each package binds its native module with
 * `bindNative()` (./native.ts, not exported); everything else — names, types, docs, input checks, error
 * mapping — lives here once, so both behave the same.
 *
 * Result objects keep the engine's JSON key names (snake_case: `error_rate_pct`,
 * `created_at`, …), which are identical in every front-end (C, Node, browser).
 * Option objects accept camelCase or snake_case keys.
 */

import { boundNative, type NativeModule, type NativeStoreLike } from './native.js'

function nativeModule(): NativeModule {
  const mod = boundNative()
  if (!mod) throw new OvMemoryError('INTERNAL', 'the native module is not initialised (browser: await init())')
  return mod
}

// ---------------------------------------------------------------- errors

/** The stable error names, shared by every front-end. */
export type ErrorCode =
  | 'INVALID_DATA'
  | 'NOT_FOUND'
  | 'RESOURCE_EXHAUSTION'
  | 'TIMEOUT'
  | 'CIRCUIT_OPEN'
  | 'MEMORY_CORRUPTION'
  | 'IO'
  | 'INTERNAL'

/** Every error code, in numeric order (1..8). */
export const ERROR_CODES: readonly ErrorCode[] = [
  'INVALID_DATA',
  'NOT_FOUND',
  'RESOURCE_EXHAUSTION',
  'TIMEOUT',
  'CIRCUIT_OPEN',
  'MEMORY_CORRUPTION',
  'IO',
  'INTERNAL',
]

/** The error every method throws (or rejects with). */
export class OvMemoryError extends Error {
  /** The stable error name, e.g. `"INVALID_DATA"`. */
  readonly code: ErrorCode
  /** Machine-readable details, e.g. `{ field: "embedding", expected: 768, got: 512 }`. */
  readonly context: Record<string, unknown>

  constructor(code: ErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(`${code}: ${message}`)
    this.name = 'OvMemoryError'
    this.code = code
    this.context = context
  }
}

const ARGUMENT_STATUSES = new Set(['InvalidArg', 'ObjectExpected', 'StringExpected', 'NameExpected', 'FunctionExpected', 'NumberExpected', 'BooleanExpected', 'ArrayExpected', 'BigintExpected', 'DateExpected', 'ArrayBufferExpected'])

/** Maps anything the native layer throws to an OvMemoryError. */
function toOvError(e: unknown): OvMemoryError {
  if (e instanceof OvMemoryError) return e
  const err = e as { message?: unknown; code?: unknown } | undefined
  const message = typeof err?.message === 'string' ? err.message : String(e)
  try {
    const body = JSON.parse(message) as { code?: unknown; message?: unknown; context?: unknown }
    if (body && typeof body.code === 'string' && ERROR_CODES.includes(body.code as ErrorCode)) {
      return new OvMemoryError(body.code as ErrorCode, String(body.message), (body.context ?? {}) as Record<string, unknown>)
    }
  } catch {
    // not the JSON protocol: fall through
  }
  if (typeof err?.code === 'string' && ARGUMENT_STATUSES.has(err.code)) {
    return new OvMemoryError('INVALID_DATA', message, { native_status: err.code })
  }
  if (e instanceof TypeError || e instanceof RangeError) {
    return new OvMemoryError('INVALID_DATA', message)
  }
  return new OvMemoryError('INTERNAL', message)
}

function guard<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    throw toOvError(e)
  }
}

async function guardAsync<T>(f: () => Promise<T> | T): Promise<T> {
  try {
    return await f()
  } catch (e) {
    throw toOvError(e)
  }
}

function invalid(field: string, message: string, context: Record<string, unknown> = {}): OvMemoryError {
  return new OvMemoryError('INVALID_DATA', message, { field, ...context })
}

// ---------------------------------------------------------------- input conversion

/** A vector: a Float32Array (used as is, never copied) or an array of numbers. */
export type Vector = Float32Array | readonly number[]

function kind(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (ArrayBuffer.isView(v)) return v.constructor.name
  return typeof v
}

/** A query vector, or null for a text-only query (`options.text`). */
function toQuery(v: unknown, owned = false): Float32Array | null {
  if (v === null || v === undefined) return null
  return owned ? toOwnedVector(v, 'query') : toVector(v, 'query')
}

function toVector(v: unknown, field: string): Float32Array {
  if (v instanceof Float32Array) return v
  if (!Array.isArray(v)) {
    throw invalid(field, `${field} must be a Float32Array or an array of numbers`, { got: kind(v) })
  }
  const out = new Float32Array(v.length)
  for (let i = 0; i < v.length; i++) {
    let x: unknown
    try {
      if (!(i in v)) throw invalid(field, `${field} is a sparse array (hole at index ${i})`, { index: i })
      x = v[i]
    } catch (e) {
      // A throwing getter or proxy trap is bad input, not an engine failure.
      if (e instanceof OvMemoryError) throw e
      throw invalid(field, `${field}[${i}] cannot be read: ${e instanceof Error ? e.message : String(e)}`, { index: i })
    }
    if (typeof x !== 'number') throw invalid(field, `${field}[${i}] is not a number`, { index: i, got: kind(x) })
    out[i] = x
  }
  return out
}

/** Like `toVector`, but always a private copy: for calls that read it after an `await`. */
function toOwnedVector(v: unknown, field: string): Float32Array {
  const out = toVector(v, field)
  return out === v ? out.slice() : out
}

function toText(t: unknown, field = 'text'): string {
  if (typeof t !== 'string') throw invalid(field, `${field} must be a string`, { got: kind(t) })
  return t
}

function toOptionalNumber(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number') throw invalid(field, `${field} must be a number`, { got: kind(v) })
  return v
}

function toId(v: unknown): number {
  if (typeof v !== 'number') throw invalid('id', 'id must be a number', { got: kind(v) })
  return v
}

function toMetadataJson(m: unknown): string | undefined {
  if (m === undefined || m === null) return undefined
  let text: string | undefined
  try {
    text = JSON.stringify(m)
  } catch (e) {
    throw invalid('metadata', `metadata cannot be written as JSON: ${(e as Error).message}`)
  }
  if (text === undefined) throw invalid('metadata', 'metadata must be a JSON object', { got: kind(m) })
  return text
}

/** Rejects option keys the method does not know (as the engine does for the options it parses). */
function checkKeys(o: object, allowed: readonly string[], field = 'options'): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw invalid(field, `unknown option ${k}`, { option: k })
  }
}

const ADD_KEYS = ['weight', 'metadata', 'timeoutMs', 'timeout_ms', 'createdAt', 'created_at', 'namespace', 'key', 'expiresAt', 'expires_at', 'ttlMs', 'ttl_ms'] as const
const BATCH_KEYS = ['weights', 'metadata', 'timeoutMs', 'timeout_ms', 'createdAt', 'created_at', 'namespace', 'keys', 'expiresAt', 'expires_at', 'ttlMs', 'ttl_ms'] as const

/** Reads an option given in camelCase or snake_case. */
function either<T>(o: Record<string, unknown>, camel: string, snake: string): T | undefined {
  if (o[camel] !== undefined && o[snake] !== undefined) throw invalid(camel, `give ${camel} or ${snake}, not both`)
  return (o[camel] ?? o[snake]) as T | undefined
}

/** Add options with every key in its camelCase spelling (unknown keys rejected). */
function normaliseAdd(options: unknown): AddOptions {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object' || Array.isArray(options)) throw invalid('options', 'options must be an object', { got: kind(options) })
  const o = options as Record<string, unknown>
  checkKeys(o, ADD_KEYS)
  return {
    weight: o.weight as number | undefined,
    metadata: o.metadata as Record<string, unknown> | null | undefined,
    timeoutMs: either(o, 'timeoutMs', 'timeout_ms'),
    createdAt: either(o, 'createdAt', 'created_at'),
    namespace: o.namespace as string | undefined,
    key: o.key as string | undefined,
    expiresAt: either(o, 'expiresAt', 'expires_at'),
    ttlMs: either(o, 'ttlMs', 'ttl_ms'),
  }
}

/** Batch options with every key in its camelCase spelling (unknown keys rejected). */
function normaliseBatch(options: unknown): AddBatchOptions {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object' || Array.isArray(options)) throw invalid('options', 'options must be an object', { got: kind(options) })
  const o = options as Record<string, unknown>
  checkKeys(o, BATCH_KEYS)
  return {
    weights: o.weights as number[] | undefined,
    metadata: o.metadata as Array<Record<string, unknown> | null> | undefined,
    timeoutMs: either(o, 'timeoutMs', 'timeout_ms'),
    createdAt: either(o, 'createdAt', 'created_at'),
    namespace: o.namespace as string | undefined,
    keys: o.keys as Array<string | null> | undefined,
    expiresAt: either(o, 'expiresAt', 'expires_at'),
    ttlMs: either(o, 'ttlMs', 'ttl_ms'),
  }
}

/** The options of one add that go to the engine as JSON (only when set). */
function toAddExtraJson(o: AddOptions): string | undefined {
  const { namespace, key, expiresAt, ttlMs } = o
  if (namespace === undefined && key === undefined && expiresAt === undefined && ttlMs === undefined) return undefined
  return toOptionsJson({ namespace, key, expires_at: expiresAt, ttl_ms: ttlMs })
}

function toIds(v: unknown, field = 'ids'): number[] {
  if (!Array.isArray(v)) throw invalid(field, `${field} must be an array of numbers`, { got: kind(v) })
  return Array.from(v, (x, i) => {
    if (typeof x !== 'number') throw invalid(field, `${field}[${i}] is not a number`, { index: i, got: kind(x) })
    return x
  })
}

/** The numbers of a packed hit this surface reads; their positions come from the native module. */
const PACKED_NAMES = [
  'id',
  'created_at',
  'S',
  'L',
  'C',
  'G',
  'R',
  'W',
  'rel',
  'P',
  'text_units',
  'namespace_units',
  'metadata_units',
] as const
/** Where each number of a packed hit is: the native module's own layout, read once. */
type PackedLayout = Record<(typeof PACKED_NAMES)[number] | 'stride', number>
let packedLayout: PackedLayout | undefined

function layout(): PackedLayout {
  if (packedLayout) return packedLayout
  const names = nativeModule().NativeStore.packedHitFields()
  const at: Record<string, number> = Object.fromEntries(names.map((n, i) => [n, i]))
  for (const k of PACKED_NAMES) {
    if (typeof at[k] !== 'number') throw new OvMemoryError('INTERNAL', `the native module packs no ${k}`)
  }
  return (packedLayout = { ...at, stride: names.length } as PackedLayout)
}

/**
 * Hits from the packed form a native retrieve returns (no JSON to parse but
 * each hit's metadata): per hit a fixed set of numbers (the native module
 * names them: id, created_at, the score's parts, the lengths of its text,
 * namespace and metadata JSON, −1 for none) and one string holding those
 * three in turn.
 */
function unpackHits([x, str]: [Float64Array, string]): Hit[] {
  const f = layout()
  const hits: Hit[] = []
  let at = 0
  for (let i = 0; i < x.length; i += f.stride) {
    const text = str.slice(at, (at += x[i + f.text_units]))
    const namespace = str.slice(at, (at += x[i + f.namespace_units]))
    let metadata: Record<string, unknown> | null = null
    const m = x[i + f.metadata_units]
    if (m >= 0) metadata = JSON.parse(str.slice(at, (at += m))) as Record<string, unknown>
    hits.push({
      id: x[i + f.id],
      text,
      metadata,
      created_at: x[i + f.created_at],
      namespace,
      score: {
        S: x[i + f.S],
        L: x[i + f.L],
        C: x[i + f.C],
        G: x[i + f.G],
        R: x[i + f.R],
        W: x[i + f.W],
        rel: x[i + f.rel],
        P: x[i + f.P],
      },
    })
  }
  return hits
}

/**
 * Retrieve options as the native module takes them: `topK` on its own when it
 * is a whole number ≥ 0 and no `top_k` is given beside it, so that the usual
 * call (`{ topK }` alone) crosses no JSON; otherwise −1 and all of them as
 * JSON text, checked by the core as before.
 */
function splitTopK(o: unknown): [number, string] {
  if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
    const { topK, ...rest } = o as { topK?: unknown }
    if (typeof topK === 'number' && Number.isSafeInteger(topK) && topK >= 0 && !('top_k' in rest)) {
      return [topK, isEmpty(rest) ? '{}' : toOptionsJson(rest)]
    }
  }
  return [-1, toOptionsJson(o)]
}

function isEmpty(o: object): boolean {
  for (const key in o) if (Object.prototype.hasOwnProperty.call(o, key)) return false
  return true
}

function toOptionsJson(o: unknown, field = 'options'): string {
  if (o === undefined || o === null) return '{}'
  if (typeof o !== 'object' || Array.isArray(o)) throw invalid(field, `${field} must be an object`, { got: kind(o) })
  try {
    return JSON.stringify(o)
  } catch (e) {
    throw invalid(field, `${field} cannot be written as JSON: ${(e as Error).message}`)
  }
}

// ---------------------------------------------------------------- result types

/** Store settings; every key is optional (defaults). camelCase or snake_case. */
export interface StoreOptions {
  /** Vector length, 1..=65536 (default 768). */
  embeddingDim?: number
  /** Most memories (default 10 000). */
  maxNodes?: number
  /** Ceiling on the documented size estimate, in MiB (default none). */
  maxMemoryMb?: number
  /** Most honeycomb neighbours (default 6). */
  maxDegree?: number
  /** Most characters in a text (default 1 000 000). */
  maxTextChars?: number
  /** Most bytes of metadata as compact JSON (default 65 536). */
  maxMetadataBytes?: number
  /** top_k above this is served with a WARNING log (default 1 000). */
  maxTopK?: number
  /** Deadline of add, retrieve and context in ms (default 30 000). */
  timeoutMs?: number
  /** Recency time constant τ in seconds (default 86 400). */
  decayTauSecs?: number
  /** Default alpha of retrieve (default 0.75). */
  alpha?: number
  /** Score form (default "geometric"). */
  scoring?: 'geometric' | 'product'
  /** Circuit breaker thresholds. */
  breaker?: { failureThreshold?: number; openMs?: number; halfOpenProbes?: number }
  /** Window the health status reads, in seconds (default 60). */
  healthWindowSecs?: number
  /** Latency histograms and the health window (default true). */
  monitoring?: boolean
  /** Log threshold (default "INFO"). */
  logLevel?: LogLevel
  /** Metabolism token budget (default 100 000). */
  budgetTokens?: number
  /**
   * Namespaces with more memories than this (default 10 000) are served by
   * their approximate index: retrieval takes its candidates from it and
   * scores them exactly. 0: always.
   */
  exactLimit?: number
  /**
   * How vectors are stored (default "f32"): "f16" takes half the memory
   * (2 bytes per component), "i8" a quarter (1 byte). A compact vector is
   * scaled by its largest component and rounded; every score is computed on
   * the stored vector, and `get` returns it. Fixed for the store's life.
   */
  vectorPrecision?: 'f32' | 'f16' | 'i8'
  /**
   * Candidates each add examines in the approximate index, 1..=10000
   * (default 128): more builds an index that finds more of the exact top k at
   * the same `ef`, and makes adding slower. Applies to memories added from
   * then on; a snapshot keeps it.
   */
  efConstruction?: number
}

/** The namespaces a read sees: one name or a list of names (default `""`). */
export type Namespaces = string | readonly string[]

/**
 * A metadata filter: `{ "topic": "tea" }` (equality), operators `$eq`, `$ne`,
 * `$in`, `$nin`, `$gt`, `$gte`, `$lt`, `$lte` (numbers, or strings
 * lexicographically), `$exists`, and `$and`, `$or`, `$not`; dotted paths
 * (`"user.city"`) reach into nested objects. See the README.
 */
export type Filter = Record<string, unknown>

/** Options of `add`. */
export interface AddOptions {
  /** The namespace (a user, an agent, …; default `""`). */
  namespace?: string
  /** A key unique in the namespace: adding with an existing key replaces that memory, keeping its id. */
  key?: string
  /** When the memory expires, Unix ms (after now). */
  expiresAt?: number
  /** Time to live in ms (instead of `expiresAt`). */
  ttlMs?: number
  /** Importance weight, finite and > 0 (default 1). */
  weight?: number
  /** A JSON object of at most 64 KiB. */
  metadata?: Record<string, unknown> | null
  /** Deadline in ms (default: the store's timeoutMs). */
  timeoutMs?: number
  /**
   * When the memory was made, Unix ms (default: now). May lie in the past
   * (importing history), at most a minute in the future.
   */
  createdAt?: number
}

/** Options of `addBatch`. */
export interface AddBatchOptions {
  /** One weight per text (default 1 each). */
  weights?: readonly number[]
  /** One metadata object (or null) per text. */
  metadata?: ReadonlyArray<Record<string, unknown> | null | undefined>
  /** Deadline in ms. */
  timeoutMs?: number
  /** One creation time (Unix ms) per text (default: now). */
  createdAt?: readonly number[]
  /** One namespace for the whole batch (default `""`). */
  namespace?: string
  /** One key (or null) per text: an existing key in the namespace is replaced, keeping its id. */
  keys?: ReadonlyArray<string | null | undefined>
  /** One expiry time (Unix ms, or null) per text. */
  expiresAt?: ReadonlyArray<number | null | undefined>
  /** One time to live in ms for the whole batch. */
  ttlMs?: number
}

/** A change to one memory; absent fields stay as they are. */
export interface MemoryUpdate {
  /** A new text (re-indexed). */
  text?: string
  /** A new embedding (the memory is re-linked into the honeycomb). */
  embedding?: Vector
  /** A new weight. */
  weight?: number
  /** New metadata; null removes it. */
  metadata?: Record<string, unknown> | null
  /** New expiry, Unix ms; null removes it. */
  expiresAt?: number | null
  /** New expiry as a time to live from now, ms. */
  ttlMs?: number
  /** Deadline in ms. */
  timeoutMs?: number
}

/** Options of `list`. */
export interface ListOptions {
  /** Namespaces to list (default `""`). */
  namespace?: Namespaces
  /** Only memories whose metadata passes. */
  filter?: Filter
  /** Only ids above this (the previous page's `next_after_id`). */
  afterId?: number
  /** Page size, 1..=10 000 (default 100). */
  limit?: number
}

/** One page of `list`. */
export interface Page {
  /** Ascending ids. */
  memories: Memory[]
  /** Pass as `afterId` for the next page; null after the last. */
  next_after_id: number | null
}

/** Which memories `count` and `exportJsonl` take. */
export interface ScopeOptions {
  /** Namespaces (count: default `""`; export: default every namespace). */
  namespace?: Namespaces
  /** Only memories whose metadata passes. */
  filter?: Filter
}

/** Options of `importJsonl`. */
export interface ImportOptions {
  /** Keep each line's id (default true; an id this store already assigned is rejected). */
  keepIds?: boolean
  /** Deadline in ms. */
  timeoutMs?: number
}

/** What `importJsonl` did. */
export interface ImportReport {
  /** Memories added (or replaced through their key). */
  imported: number
  /** Lines skipped because the memory had already expired. */
  expired: number
}

/** One query of `retrieveMany`: a vector, a text, or both. */
export interface BatchQuery {
  embedding?: Vector | null
  text?: string | null
}

/** A stored memory. */
export interface Memory {
  id: number
  text: string
  embedding: Float32Array
  weight: number
  metadata: Record<string, unknown> | null
  /** Unix ms. */
  created_at: number
  /** Unix ms of the last context injection (creation time until then). */
  last_accessed: number
  access_count: number
  /** Honeycomb neighbours, ascending ids. */
  neighbors: number[]
  /** The namespace (`""` by default). */
  namespace: string
  /** The key, if one was given. */
  key: string | null
  /** Expiry, Unix ms, if any. */
  expires_at: number | null
}

/** A score and its parts. */
export interface Score {
  /** Semantic relevance max(0, cos) (0 without a query vector). */
  S: number
  /** Lexical relevance, BM25 (0 without a query text). */
  L: number
  /** Centrality (reported). */
  C: number
  /** Graph activation from strongly relevant neighbours, in [0, 1]. */
  G: number
  /** Relevance: the per-query standardised fusion of S and L. */
  rel: number
  /** Recency exp(-age/τ). */
  R: number
  /** Weight. */
  W: number
  /** The combined score. */
  P: number
}

/** One retrieval result. */
export interface Hit {
  id: number
  text: string
  metadata: Record<string, unknown> | null
  /** Unix ms. */
  created_at: number
  /** The memory's namespace. */
  namespace: string
  score: Score
}

/** Options of `retrieve`. */
export interface RetrieveOptions {
  /** Results at most (default 5). */
  topK?: number
  /** Alpha in [0, 1] (default: the store's). */
  alpha?: number
  /** Deadline in ms. */
  timeoutMs?: number
  /** Score form (default: the store's). */
  scoring?: 'geometric' | 'product'
  /** Score as of this time, Unix ms (default: now): recency is measured up to it. */
  now?: number
  /** The query's text for lexical relevance (BM25); with a null query vector it is the whole query. */
  text?: string
  /** Weight of semantic relevance in the fusion, in [0, 1] (default: the store's, 0.7). */
  hybridWeight?: number
  /** The namespace to search, or a list (default `""`). */
  namespace?: Namespaces
  /** Only memories whose metadata passes are ranked (the top k of those). */
  filter?: Filter
  /** Scan every memory even where a namespace is served by its approximate index (default false). */
  exact?: boolean
  /** Candidates taken from each approximate index, 1..=10000 (default 96; at least topK): more finds more of the exact top k. */
  ef?: number
}

/** Options of `context`. */
export interface ContextOptions {
  /** Token budget (default 2 000). */
  maxTokens?: number
  /** Best memories that seed the wake-up (default 5). */
  candidates?: number
  /** Wake-up depth in hops (default 2). */
  depth?: number
  /** Alpha override (default: the metabolism's). */
  alpha?: number
  /** Deadline in ms. */
  timeoutMs?: number
  /** Text between injected memories (default "\n\n"). */
  separator?: string
  /** Score as of this time, Unix ms (default: now). */
  now?: number
  /** The query's text for lexical relevance. */
  text?: string
  /** Weight of semantic relevance in the fusion (default: the store's). */
  hybridWeight?: number
  /** The floor: this many best memories are always taken while they fit (default 3). */
  minItems?: number
  /** Most memories in one context (default 8). */
  maxItems?: number
  /** Prefix each item with its date, `[2023-05-08] ` (default true). */
  includeDates?: boolean
  /** The namespace to draw from, or a list (default `""`). */
  namespace?: Namespaces
  /** Only memories whose metadata passes are candidates or woken up. */
  filter?: Filter
  /**
   * Counts an item's tokens (its text as it would appear in the context),
   * instead of `ceil(bytes / 4)`: e.g. your model's tokenizer. Called
   * synchronously; throwing or returning anything but a whole number ≥ 0
   * fails the call with INVALID_DATA.
   */
  tokenCounter?: (text: string) => number
}

/** The default token estimate, `ceil(UTF-8 bytes / 4)`: what `context` charges without a `tokenCounter`. */
export function estimateTokens(text: string): number {
  return guard(() => nativeModule().NativeStore.estimateTokens(toText(text)))
}

/** Splits a `tokenCounter` (a function, never serialised) off the options. */
function splitCounter(options: ContextOptions | undefined | null): [string, ((text: string) => number) | null] {
  if (options === undefined || options === null) return ['{}', null]
  if (typeof options !== 'object' || Array.isArray(options)) throw invalid('options', 'options must be an object', { got: kind(options) })
  const { tokenCounter, ...rest } = options
  if (tokenCounter !== undefined && tokenCounter !== null && typeof tokenCounter !== 'function') {
    throw invalid('tokenCounter', 'tokenCounter must be a function', { got: kind(tokenCounter) })
  }
  return [toOptionsJson(rest), tokenCounter ?? null]
}

/** One injected memory. */
export interface ContextItem extends Hit {
  trigger: 'floor' | 'resonance' | 'bridge' | 'metabolic'
  hops: number
  tokens: number
}

/** The metabolism. */
export interface MetabolismReport {
  budget_tokens: number
  used_tokens: number
  remaining_pct: number
  state: 'HEALTHY' | 'STRESSED' | 'CRITICAL' | 'EMERGENCY'
  alpha: number
}

/** What `context` returns. */
export interface ContextResult {
  context: string
  tokens_used: number
  max_tokens: number
  alpha: number
  items: ContextItem[]
  guardrails: { drift: number; loop: number; redundancy: number }
  considered: number
  metabolism: MetabolismReport
}

/** Breaker states. */
export type BreakerState = 'CLOSED' | 'OPEN' | 'HALF_OPEN'

/** The health report. */
export interface HealthReport {
  status: 'HEALTHY' | 'WARNING' | 'CRITICAL'
  /** Share of recent calls that failed for the engine's own reasons (timeouts, corruption, I/O, internal), %. */
  error_rate_pct: number
  /** Share of recent calls rejected for the caller's input (bad data, unknown ids, limits, open breaker), %. */
  caller_error_rate_pct: number
  circuit_breaker: BreakerState
  reasons: string[]
  metrics: {
    queries: number
    qps: number
    avg_latency_ms: number
    p95_latency_ms: number
    p99_latency_ms: number
    error_count: number
    nodes: number
    capacity_pct: number
  }
  timestamp: string
}

/** Latency figures of one operation. */
export interface OperationMetrics {
  count: number
  errors: number
  avg_latency_ms: number
  p50_latency_ms: number
  p95_latency_ms: number
  p99_latency_ms: number
  max_latency_ms: number
}

/** Every metric */
export interface Metrics {
  queries_processed: number
  qps: number
  avg_latency_ms: number
  p50_latency_ms: number
  p95_latency_ms: number
  p99_latency_ms: number
  max_latency_ms: number
  error_count: number
  error_rate_pct: number
  error_breakdown: Partial<Record<ErrorCode, number>>
  uptime_seconds: number
  operations: Record<string, OperationMetrics>
  drift_detections: number
  loop_preventions: number
  redundancy_filters: number
  fractal_overflows: number
  /** Expired memories removed (by writes and `sweep`). */
  expired_removed: number
  /** Memories per namespace. */
  namespaces: Record<string, number>
  /** Log lines that could not be written (a closed pipe, a throwing callback) and were dropped. */
  log_lines_dropped: number
  node_count: number
  edge_count: number
  memory_estimate_bytes: number
  capacity_pct: number
  max_nodes: number
  circuit_breaker: {
    state: BreakerState
    consecutive_failures: number
    times_opened: number
    rejected_calls: number
    half_open_in_flight: number
    half_open_successes: number
  }
  metabolism: MetabolismReport
}

/** Log levels, lowest first. */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL'

/** One log line. */
export interface LogRecord {
  timestamp: string
  level: LogLevel
  message: string
  fields: Record<string, unknown>
}

function parseMemory(json: string): Memory {
  const m = JSON.parse(json) as Omit<Memory, 'embedding'> & { embedding: number[] }
  return { ...m, embedding: Float32Array.from(m.embedding) }
}

function toBytes(b: unknown): Uint8Array {
  if (!(b instanceof Uint8Array)) throw invalid('bytes', 'bytes must be a Uint8Array (or a Buffer)', { got: kind(b) })
  return b
}

function toPath(p: unknown): string {
  const path = toText(p, 'path')
  if (path.length === 0) throw invalid('path', 'path must not be empty')
  return path
}

function noFiles(): OvMemoryError {
  return new OvMemoryError('IO', 'this build has no file system: use toBytes() and MemoryStore.fromBytes()', { operation: 'file' })
}

/** Wraps an existing native store (snapshots); not public. */
class Adopt {
  constructor(readonly native: NativeStoreLike) {}
}

const disposeSymbol: symbol =
  (Symbol as unknown as { dispose?: symbol }).dispose ?? Symbol.for('Symbol.dispose')

// ---------------------------------------------------------------- the store

/**
 * A memory store. Methods throw `OvMemoryError` (the `…Async` variants reject
 * with it); a rejected call changes nothing.
 *
 * ```ts
 * const store = new MemoryStore({ embeddingDim: 384 })
 * const id = store.add(embedding, 'The user prefers green tea', { weight: 0.9 })
 * const hits = store.retrieve(query, { topK: 3 })
 * ```
 */
export class MemoryStore {
  #native: NativeStoreLike | null

  /** A store with these settings (all optional). */
  constructor(options: StoreOptions = {}) {
    if (options instanceof Adopt) {
      this.#native = options.native
      return
    }
    const mod = nativeModule()
    const config = toOptionsJson(options, 'options')
    this.#native = guard(() => new mod.NativeStore(config))
  }

  /**
   * A new store from snapshot bytes. Without `options` it has the snapshot's
   * settings but the default resource limits (maxNodes, maxMemoryMb,
   * maxTextChars, maxMetadataBytes, maxTopK, timeoutMs): a file never decides
   * how much it may grow. With `options` it has exactly those settings.
   */
  static fromBytes(bytes: Uint8Array, options?: StoreOptions): MemoryStore {
    const mod = nativeModule()
    return guard(() => {
      const config = options === undefined || options === null ? undefined : toOptionsJson(options, 'options')
      return new MemoryStore(new Adopt(mod.NativeStore.fromBytes(toBytes(bytes), config)) as unknown as StoreOptions)
    })
  }

  /** Node name of `fromBytes` (a Buffer is a Uint8Array). */
  static fromBuffer(bytes: Uint8Array, options?: StoreOptions): MemoryStore {
    return MemoryStore.fromBytes(bytes, options)
  }

  /** A new store from a snapshot file (Node only); `options` as for `fromBytes`. */
  static open(path: string, options?: StoreOptions): MemoryStore {
    const mod = nativeModule()
    return guard(() => {
      const p = toPath(path)
      const config = options === undefined || options === null ? undefined : toOptionsJson(options, 'options')
      if (!mod.NativeStore.open) throw noFiles()
      return new MemoryStore(new Adopt(mod.NativeStore.open(p, config)) as unknown as StoreOptions)
    })
  }

  /** The whole store as snapshot bytes (versioned, checksummed; see the README). */
  toBytes(): Uint8Array {
    return guard(() => this.#n.toBytes())
  }

  /** Node name of `toBytes` (returns a Buffer in Node). */
  toBuffer(): Uint8Array {
    return this.toBytes()
  }

  /** Replaces this store's contents with a snapshot; on any error nothing changes. */
  loadBytes(bytes: Uint8Array): void {
    guard(() => this.#n.loadBytes(toBytes(bytes)))
  }

  /** Saves a snapshot to a file atomically (Node only). */
  save(path: string): void {
    guard(() => {
      const p = toPath(path)
      const n = this.#n
      if (!n.save) throw noFiles()
      n.save(p)
    })
  }

  /** `save` on the thread pool. */
  saveAsync(path: string): Promise<void> {
    return guardAsync(async () => {
      const p = toPath(path)
      const n = this.#n
      if (!n.saveAsync) throw noFiles()
      await n.saveAsync(p)
    })
  }

  /**
   * Saves to `path` after every `everyChanges` changes (adds, deletes, loads);
   * `null` turns it off (Node only). A failed autosave is logged and counted as
   * a failed save; it never fails the call that triggered it.
   */
  setAutosave(path: string | null, everyChanges = 1): void {
    guard(() => {
      const n = this.#n
      if (!n.setAutosave) throw noFiles()
      if (path === null || path === undefined) return n.setAutosave(null, 0)
      n.setAutosave(toPath(path), toOptionalNumber(everyChanges, 'everyChanges') ?? NaN)
    })
  }

  /** Replaces this store's contents with the snapshot in a file (Node only). */
  load(path: string): void {
    guard(() => {
      const p = toPath(path)
      const n = this.#n
      if (!n.load) throw noFiles()
      n.load(p)
    })
  }

  /** `load` on the thread pool. */
  loadAsync(path: string): Promise<void> {
    return guardAsync(async () => {
      const p = toPath(path)
      const n = this.#n
      if (!n.loadAsync) throw noFiles()
      await n.loadAsync(p)
    })
  }

  /** The native store; throws once `free()` was called. */
  get #n(): NativeStoreLike {
    if (!this.#native) throw new OvMemoryError('INVALID_DATA', 'this store was freed', { field: 'this' })
    return this.#native
  }

  /** Adds a memory and links it into the honeycomb; returns its id. */
  add(embedding: Vector, text: string, options: AddOptions = {}): number {
    return guard(() => {
      const o = normaliseAdd(options)
      return this.#n.add(toVector(embedding, 'embedding'), toText(text), toOptionalNumber(o.weight, 'weight'), toMetadataJson(o.metadata), toOptionalNumber(o.timeoutMs, 'timeoutMs'), toOptionalNumber(o.createdAt, 'createdAt'), toAddExtraJson(o))
    })
  }

  /** `add` off the event loop (Node: on the thread pool). */
  addAsync(embedding: Vector, text: string, options: AddOptions = {}): Promise<number> {
    return guardAsync(async () => {
      const o = normaliseAdd(options)
      const n = this.#n
      // Without a native async call the work runs after an await: take a private
      // copy, since the caller may change its array meanwhile (napi copies natively).
      const args = [n.addAsync ? toVector(embedding, 'embedding') : toOwnedVector(embedding, 'embedding'), toText(text), toOptionalNumber(o.weight, 'weight'), toMetadataJson(o.metadata), toOptionalNumber(o.timeoutMs, 'timeoutMs'), toOptionalNumber(o.createdAt, 'createdAt'), toAddExtraJson(o)] as const
      if (n.addAsync) return Number(JSON.parse(await n.addAsync(...args)))
      await Promise.resolve()
      return n.add(...args)
    })
  }

  #batchArgs(embeddings: Vector, texts: readonly string[], options: AddBatchOptions, owned = false) {
    const o = normaliseBatch(options)
    if (!Array.isArray(texts)) throw invalid('texts', 'texts must be an array of strings', { got: kind(texts) })
    const t = texts.map((x, i) => toText(x, `texts[${i}]`))
    let weights: number[] | undefined
    if (o.weights !== undefined && o.weights !== null) {
      if (!Array.isArray(o.weights)) throw invalid('weights', 'weights must be an array of numbers', { got: kind(o.weights) })
      weights = Array.from(o.weights, (w, i) => toOptionalNumber(w, `weights[${i}]`) ?? NaN)
    }
    let metas: Array<string | null> | undefined
    if (o.metadata !== undefined && o.metadata !== null) {
      if (!Array.isArray(o.metadata)) throw invalid('metadata', 'metadata must be an array', { got: kind(o.metadata) })
      metas = Array.from(o.metadata, (m) => toMetadataJson(m) ?? null)
    }
    let created: number[] | undefined
    if (o.createdAt !== undefined && o.createdAt !== null) {
      if (!Array.isArray(o.createdAt)) throw invalid('createdAt', 'createdAt must be an array of numbers', { got: kind(o.createdAt) })
      created = Array.from(o.createdAt, (c, i) => toOptionalNumber(c, `createdAt[${i}]`) ?? NaN)
    }
    const flat = owned ? toOwnedVector(embeddings, 'embeddings') : toVector(embeddings, 'embeddings')
    const { namespace, keys, expiresAt, ttlMs } = o
    const extra = namespace === undefined && keys === undefined && expiresAt === undefined && ttlMs === undefined
      ? undefined
      : toOptionsJson({ namespace, keys, expires_at: expiresAt, ttl_ms: ttlMs })
    return [flat, t, weights, metas, toOptionalNumber(o.timeoutMs, 'timeoutMs'), created, extra] as const
  }

  /**
   * Adds `texts.length` memories at once, all or nothing. `embeddings` is one
   * flat vector holding `texts.length * embeddingDim` values, row after row.
   */
  addBatch(embeddings: Vector, texts: readonly string[], options: AddBatchOptions = {}): number[] {
    return guard(() => Array.from(this.#n.addBatch(...this.#batchArgs(embeddings, texts, options))))
  }

  /** `addBatch` off the event loop. */
  addBatchAsync(embeddings: Vector, texts: readonly string[], options: AddBatchOptions = {}): Promise<number[]> {
    return guardAsync(async () => {
      const n = this.#n
      const args = this.#batchArgs(embeddings, texts, options, !n.addBatchAsync)
      if (n.addBatchAsync) return JSON.parse(await n.addBatchAsync(...args)) as number[]
      await Promise.resolve()
      return Array.from(n.addBatch(...args))
    })
  }

  /** The memory with this id, or null. */
  get(id: number): Memory | null {
    return guard(() => {
      const json = this.#n.get(toId(id))
      return json == null ? null : parseMemory(json)
    })
  }

  /** Deletes a memory and its edges; throws NOT_FOUND for an unknown id. */
  delete(id: number): void {
    guard(() => this.#n.delete(toId(id)))
  }

  /**
   * Changes a memory in place: its id, namespace, key and `created_at` stay.
   * All or nothing; NOT_FOUND for an unknown or expired id.
   */
  update(id: number, patch: MemoryUpdate): void {
    guard(() => {
      if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw invalid('update', 'update must be an object', { got: kind(patch) })
      const { embedding, ...rest } = patch
      const e = embedding === undefined || embedding === null ? null : toVector(embedding, 'embedding')
      this.#n.update(toId(id), e, toOptionsJson(rest, 'update'))
    })
  }

  /** One page of memories in ascending id order (default: namespace `""`, 100 per page). */
  list(options: ListOptions = {}): Page {
    return guard(() => {
      const page = JSON.parse(this.#n.list(toOptionsJson(options))) as Omit<Page, 'memories'> & { memories: Array<Omit<Memory, 'embedding'> & { embedding: number[] }> }
      return { ...page, memories: page.memories.map((m) => ({ ...m, embedding: Float32Array.from(m.embedding) })) }
    })
  }

  /** How many memories are in scope (default: namespace `""`); expired ones are not counted. */
  count(options: ScopeOptions = {}): number {
    return guard(() => this.#n.count(toOptionsJson(options)))
  }

  /** The memories with these ids, in order; null where an id is unknown or expired. */
  getMany(ids: readonly number[]): Array<Memory | null> {
    return guard(() => {
      const all = JSON.parse(this.#n.getMany(toIds(ids))) as Array<(Omit<Memory, 'embedding'> & { embedding: number[] }) | null>
      return all.map((m) => (m === null ? null : { ...m, embedding: Float32Array.from(m.embedding) }))
    })
  }

  /** Deletes every listed memory that exists; returns how many were deleted. */
  deleteMany(ids: readonly number[]): number {
    return guard(() => this.#n.deleteMany(toIds(ids)))
  }

  /** Deletes every memory of a namespace; returns how many. */
  deleteNamespace(namespace: string): number {
    return guard(() => this.#n.deleteNamespace(toText(namespace, 'namespace')))
  }

  /** Removes every expired memory now (writes also do it); returns how many. */
  sweep(): number {
    return guard(() => this.#n.sweep())
  }

  /** Memories per namespace. */
  namespaces(): Record<string, number> {
    return guard(() => JSON.parse(this.#n.namespaces()) as Record<string, number>)
  }

  /** The most central memories of a namespace (default `""`). */
  hubs(namespace = ''): number[] {
    return guard(() => Array.from(this.#n.hubs(toText(namespace, 'namespace'))))
  }

  /**
   * The memories in scope as JSON Lines (every field, embeddings included;
   * ascending ids). Without a namespace, every namespace.
   */
  exportJsonl(options: ScopeOptions = {}): string {
    return guard(() => this.#n.exportJsonl(toOptionsJson(options)))
  }

  /** Adds the memories of a JSON Lines text (as `exportJsonl` writes), all or nothing. */
  importJsonl(jsonl: string, options: ImportOptions = {}): ImportReport {
    return guard(() => JSON.parse(this.#n.importJsonl(toText(jsonl, 'jsonl'), toOptionsJson(options))) as ImportReport)
  }

  #manyArgs(queries: readonly BatchQuery[], options: RetrieveOptions, owned = false) {
    if (!Array.isArray(queries)) throw invalid('queries', 'queries must be an array', { got: kind(queries) })
    const has = new Uint8Array(queries.length)
    const vectors: Float32Array[] = []
    const texts: Array<string | null> = []
    queries.forEach((q: BatchQuery, i: number) => {
      if (q === null || typeof q !== 'object') throw invalid('queries', `queries[${i}] must be an object`, { index: i, got: kind(q) })
      if (q.embedding !== undefined && q.embedding !== null) {
        vectors.push(toVector(q.embedding, `queries[${i}].embedding`))
        has[i] = 1
      }
      texts.push(q.text === undefined || q.text === null ? null : toText(q.text, `queries[${i}].text`))
    })
    const total = vectors.reduce((n, v) => n + v.length, 0)
    let flat: Float32Array | null = null
    if (vectors.length > 0) {
      flat = vectors.length === 1 && !owned ? vectors[0] : new Float32Array(total)
      if (flat !== vectors[0] || owned) {
        let at = 0
        for (const v of vectors) {
          flat.set(v, at)
          at += v.length
        }
      }
    }
    return [queries.length, flat, has, texts, toOptionsJson(options)] as const
  }

  /**
   * Answers several queries in one call (Node: on every core; the browser
   * answers them in turn), with the same options; each query brings its own
   * vector and/or text. The same results as one `retrieve` per query.
   */
  retrieveMany(queries: readonly BatchQuery[], options: RetrieveOptions = {}): Hit[][] {
    return guard(() => JSON.parse(this.#n.retrieveMany(...this.#manyArgs(queries, options))) as Hit[][])
  }

  /** `retrieveMany` off the event loop. */
  retrieveManyAsync(queries: readonly BatchQuery[], options: RetrieveOptions = {}): Promise<Hit[][]> {
    return guardAsync(async () => {
      const n = this.#n
      const args = this.#manyArgs(queries, options, !n.retrieveManyAsync)
      if (n.retrieveManyAsync) return JSON.parse(await n.retrieveManyAsync(...args)) as Hit[][]
      await Promise.resolve()
      return JSON.parse(n.retrieveMany(...args)) as Hit[][]
    })
  }

  /** Number of memories. */
  get size(): number {
    return guard(() => this.#n.size())
  }

  /** The best memories for `query` by the score P, best first. */
  retrieve(query: Vector | null, options: RetrieveOptions = {}): Hit[] {
    return guard(() => unpackHits(this.#n.retrievePacked(toQuery(query), ...splitTopK(options))))
  }

  /** `retrieve` off the event loop. */
  retrieveAsync(query: Vector | null, options: RetrieveOptions = {}): Promise<Hit[]> {
    return guardAsync(async () => {
      const n = this.#n
      const q = toQuery(query, !n.retrieveAsync)
      const o = toOptionsJson(options)
      if (n.retrieveAsync) return JSON.parse(await n.retrieveAsync(q, o)) as Hit[]
      await Promise.resolve()
      return JSON.parse(n.retrieve(q, o)) as Hit[]
    })
  }

  /** Assembles a context for `query` within a token budget. */
  context(query: Vector | null, options: ContextOptions = {}): ContextResult {
    return guard(() => {
      const [o, counter] = splitCounter(options)
      return JSON.parse(this.#n.context(toQuery(query), o, counter)) as ContextResult
    })
  }

  /** `context` off the event loop. */
  contextAsync(query: Vector | null, options: ContextOptions = {}): Promise<ContextResult> {
    return guardAsync(async () => {
      const n = this.#n
      const [o, counter] = splitCounter(options)
      // A JS token counter must run on this thread: the synchronous path, after a tick.
      const native = n.contextAsync && !counter
      const q = toQuery(query, !native)
      if (native && n.contextAsync) return JSON.parse(await n.contextAsync(q, o)) as ContextResult
      await Promise.resolve()
      return JSON.parse(n.context(q, o, counter)) as ContextResult
    })
  }

  /** The health report as an object. Never blocked by the breaker. */
  health(): HealthReport {
    return guard(() => JSON.parse(this.#n.health()) as HealthReport)
  }

  /** The health report as JSON text (fits 512 bytes when healthy). */
  healthJson(): string {
    return guard(() => this.#n.health())
  }

  /** Every metric. */
  metrics(): Metrics {
    return guard(() => JSON.parse(this.#n.metrics()) as Metrics)
  }

  /**
   * The metrics in the Prometheus text format (0.0.4): base units (seconds,
   * bytes), `_total` counters, latency as a summary per operation, no derived
   * rates. Serve it as `text/plain; version=0.0.4`.
   */
  prometheus(): string {
    return guard(() => this.#n.prometheus())
  }

  /** The same metrics in the OpenMetrics text format (1.0.0, ends with `# EOF`). */
  openmetrics(): string {
    return guard(() => this.#n.openmetrics())
  }

  /** The log threshold. */
  get logLevel(): LogLevel {
    return guard(() => this.#n.logLevel() as LogLevel)
  }

  /** Sets the log threshold. */
  setLogLevel(level: LogLevel): void {
    guard(() => this.#n.setLogLevel(toText(level, 'level')))
  }

  /**
   * Sends every log line to `callback` (null: silent, the default). The callback
   * runs after the engine call, never inside it; if it throws, the error is
   * swallowed and nothing changes.
   */
  onLog(callback: ((record: LogRecord, line: string) => void) | null): void {
    guard(() => {
      if (callback === null || callback === undefined) return this.#n.setLogCallback(null)
      if (typeof callback !== 'function') throw invalid('callback', 'callback must be a function or null', { got: kind(callback) })
      this.#n.setLogCallback((line: string) => {
        // Queued, so it runs after the engine call in every build (Node queues
        // natively; wasm would otherwise call back before the call returns).
        queueMicrotask(() => {
          try {
            callback(JSON.parse(line) as LogRecord, line)
          } catch {
            // a throwing host callback must not affect the store
          }
        })
      })
    })
  }

  /** Closes the circuit breaker by hand. */
  resetBreaker(): void {
    guard(() => this.#n.resetBreaker())
  }

  /** The metabolism's budget, use, band and alpha. */
  metabolism(): MetabolismReport {
    return guard(() => JSON.parse(this.#n.metabolism()) as MetabolismReport)
  }

  /** Forgets the tokens spent. */
  resetMetabolism(): void {
    guard(() => this.#n.resetMetabolism())
  }

  /** Sets a new token budget (a whole number >= 1). */
  resizeMetabolism(budgetTokens: number): void {
    guard(() => this.#n.resizeMetabolism(toOptionalNumber(budgetTokens, 'budgetTokens') ?? NaN))
  }

  /** The settings the store was built with (snake_case keys). */
  config(): Record<string, unknown> {
    return guard(() => JSON.parse(this.#n.config()) as Record<string, unknown>)
  }

  /** Frees the native store now (the browser build's memory is not garbage-collected). Idempotent. */
  free(): void {
    const n = this.#native
    this.#native = null
    n?.free?.()
  }

  /** `using store = new MemoryStore(...)` frees it at the end of the scope. */
  [disposeSymbol](): void {
    this.free()
  }
}

// ---------------------------------------------------------------- the seed's class

/**
 * The original usage examples' class, over `MemoryStore`:
 *
 * ```js
 * const memory = new OVMemoryProduction(768, 10000, true)
 * const nodeId = await memory.addMemory(embedding, 'text', 0.9)
 * console.log(memory.getHealthStatus())
 * ```
 */
export class OVMemoryProduction {
  /** The underlying store. */
  readonly store: MemoryStore

  /** A store of `dim`-dimensional embeddings holding at most `maxNodes` memories. */
  constructor(dim: number, maxNodes: number, enableMonitoring = true) {
    if (typeof enableMonitoring !== 'boolean') throw invalid('enableMonitoring', 'enableMonitoring must be a boolean')
    this.store = new MemoryStore({ embeddingDim: dim, maxNodes, monitoring: enableMonitoring })
  }

  /** Adds a memory off the event loop; resolves to its id. */
  addMemory(embedding: Vector, text: string, weight = 1.0, metadata?: Record<string, unknown> | null): Promise<number> {
    return this.store.addAsync(embedding, text, { weight, metadata })
  }

  /** The memory with this id, or null. */
  getMemory(id: number): Memory | null {
    return this.store.get(id)
  }

  /** The `topK` best memories for `query`, off the event loop. */
  retrieveMemories(query: Vector, topK = 5, alpha = 0.75, timeoutSeconds = 30): Promise<Hit[]> {
    const timeout = toOptionalNumber(timeoutSeconds, 'timeoutSeconds')
    return this.store.retrieveAsync(query, { topK, alpha, timeoutMs: timeout === undefined ? undefined : Math.ceil(timeout * 1000) })
  }

  /** The health report. */
  getHealthStatus(): HealthReport {
    return this.store.health()
  }

  /** Every metric. */
  getMetrics(): Metrics {
    return this.store.metrics()
  }
}
