// OV-Memory demo (Node). The same scenario, line for line, as the C, Rust,
// Python, Java and browser demos: a real conversation (LoCoMo conv-26) stored
// as an agent's memory, its questions asked of the engine and of plain cosine
// similarity, a context within a token budget, and the health line.
//
//   node examples/node/demo.js [--wasm] [examples/data/conversation.tsv]
//
// --wasm runs the browser package (WebAssembly) in Node instead of the native one.
'use strict'
const { readFileSync } = require('node:fs')
const { join } = require('node:path')

const TOP = 3
const CONTEXT_TOKENS = 120
const DAY_MS = 86_400_000
const root = join(__dirname, '..', '..')

/** x with 3 decimals, rounded the same way in every language's demo. */
function fmt3(x) {
  const k = Math.floor(Math.abs(x) * 1000 + 0.5)
  return `${x < 0 && k > 0 ? '-' : ''}${Math.floor(k / 1000)}.${String(k % 1000).padStart(3, '0')}`
}

/** At most n characters (code points), with an ellipsis when cut. */
function clip(text, n) {
  const cps = Array.from(text)
  return cps.length <= n ? text : cps.slice(0, n - 1).join('') + '…'
}

const day = (ms) => new Date(ms).toISOString().slice(0, 10)

function readF32(path, rows) {
  const b = readFileSync(join(root, path))
  const v = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
  return { data: v, dim: v.length / rows }
}

async function main() {
  const args = process.argv.slice(2)
  const wasm = args.includes('--wasm')
  const tsv = args.find((a) => a !== '--wasm') ?? join(root, 'examples', 'data', 'conversation.tsv')
  const { MemoryStore } = wasm
    ? await import('../../bindings/web/dist/web/src/node.js').then(async (m) => { await m.init(); return m })
    : require('../../bindings/node')

  const created = []
  const turn = []
  const texts = []
  const questions = []
  let files = []
  for (const line of readFileSync(tsv, 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue
    const f = line.split('\t')
    if (f[0] === 'V') files = f.slice(1, 3)
    if (f[0] === 'M') { created.push(Number(f[1])); turn.push(f[2]); texts.push(f[3]) }
    if (f[0] === 'Q') questions.push({ shown: f[1] === '1', text: f[2], answer: f[3], evidence: f[4].split(',') })
  }
  const { data: vectors, dim } = readF32(files[0], texts.length)
  const { data: qvectors } = readF32(files[1], questions.length)
  const qvec = (i) => qvectors.subarray(i * dim, (i + 1) * dim)

  console.log("OV-Memory demo: a long conversation as an agent's memory")
  console.log()
  console.log(`Data: LoCoMo conversation conv-26 (CC BY-NC 4.0, non-commercial use only), ${texts.length} turns between`)
  console.log(`Caroline and Melanie from ${day(created[0])} to ${day(created.at(-1))}. Each turn is one memory with its real date`)
  console.log('and its all-MiniLM-L6-v2 embedding.')
  console.log()

  const store = new MemoryStore({ embeddingDim: dim, maxNodes: 1000 })
  const ids = store.addBatch(vectors, texts, { createdAt: created, metadata: turn.map((t) => ({ turn: t })) })
  const byId = new Map(ids.map((id, i) => [id, i]))
  const now = created.at(-1) + DAY_MS // "today" is the day after the last session
  console.log(`Stored ${store.size} memories; the honeycomb links them with ${store.metrics().edge_count} edges.`)
  console.log()
  console.log("For each question: the engine's top 3 (the question's embedding and its words) and plain")
  console.log("cosine's top 3 (the embedding alone). score: the engine's score, how far the match stands")
  console.log('above the other memories plus small bounded priors (importance, recency, links); cos: cosine')
  console.log('similarity; *: the turn the dataset names as the evidence for its answer.')

  const show = (label, hits, name, key, evidence) => {
    hits.forEach((h, k) => {
      const i = byId.get(h.id)
      const mark = evidence.includes(turn[i]) ? '*' : ' '
      const head = `    ${(k === 0 ? label : '').padEnd(6)} ${k + 1}. ${mark} ${turn[i].padEnd(6)} ${day(created[i])}`
      console.log(`${head}  ${name} ${fmt3(h.score[key])}  ${clip(texts[i], 44)}`)
    })
  }

  let foundEngine = 0
  let foundCosine = 0
  for (const [n, q] of questions.entries()) {
    const engine = store.retrieve(qvec(n), { text: q.text, topK: TOP, now })
    const cosine = store.retrieve(qvec(n), { topK: TOP, alpha: 1, now })
    if (engine.some((h) => q.evidence.includes(turn[byId.get(h.id)]))) foundEngine++
    if (cosine.some((h) => q.evidence.includes(turn[byId.get(h.id)]))) foundCosine++
    if (q.shown) {
      console.log()
      console.log(`Q: ${q.text}`)
      console.log(`   the dataset's answer: ${q.answer} (evidence: ${q.evidence.join(', ')})`)
      show('engine', engine, 'score', 'P', q.evidence)
      show('cosine', cosine, 'cos', 'S', q.evidence)
    }
  }
  console.log()
  console.log(`All ${questions.length} questions of the conversation: the evidence is in the top 3 for ${foundEngine} (engine)`)
  console.log(`and for ${foundCosine} (plain cosine).`)

  const asked = questions.findIndex((q) => q.shown && q.evidence.length > 1)
  const q = questions[asked]
  const ctx = store.context(qvec(asked), { text: q.text, maxTokens: CONTEXT_TOKENS, now })
  console.log()
  console.log(`The context an agent would send for "${q.text}" within ${CONTEXT_TOKENS} tokens:`)
  console.log(`${ctx.items.length} memories, ${ctx.tokens_used} tokens (the best matches and their honeycomb neighbours, each with its date):`)
  for (const item of ctx.items) {
    const i = byId.get(item.id)
    const mark = q.evidence.includes(turn[i]) ? '*' : ' '
    console.log(`    ${mark} ${turn[i].padEnd(6)} ${day(created[i])}  ${clip(texts[i], 64)}`)
  }

  const health = store.health()
  const metrics = store.metrics()
  console.log()
  console.log(`Health: ${health.status}, circuit breaker ${health.circuit_breaker}, ${metrics.error_count} errors in ${metrics.queries_processed} calls.`)
  if (store.free) store.free()
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
