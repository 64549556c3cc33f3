// The demo scenario in JavaScript, shared by the Node demo (demo.mjs, native or
// WebAssembly) and the browser page (examples/browser): it only needs a
// MemoryStore class, the parsed data and the vectors, and returns the lines the
// C, Rust, Python and Java demos print too, byte for byte.

export const TOP = 3
export const CONTEXT_TOKENS = 120
const DAY_MS = 86_400_000

/** x with 3 decimals, rounded the same way in every language's demo. */
export function fmt3(x) {
  const k = Math.floor(Math.abs(x) * 1000 + 0.5)
  return `${x < 0 && k > 0 ? '-' : ''}${Math.floor(k / 1000)}.${String(k % 1000).padStart(3, '0')}`
}

/** At most n characters (code points), with an ellipsis when cut. */
export function clip(text, n) {
  const cps = Array.from(text)
  return cps.length <= n ? text : cps.slice(0, n - 1).join('') + '…'
}

export const day = (ms) => new Date(ms).toISOString().slice(0, 10)

/** examples/data/conversation.tsv as arrays (see examples/data/make_conversation_data.py). */
export function parseConversation(tsv) {
  const data = { files: [], created: [], turn: [], texts: [], questions: [] }
  for (const line of tsv.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const f = line.split('\t')
    if (f[0] === 'V') data.files = f.slice(1, 3)
    if (f[0] === 'M') { data.created.push(Number(f[1])); data.turn.push(f[2]); data.texts.push(f[3]) }
    if (f[0] === 'Q') data.questions.push({ shown: f[1] === '1', text: f[2], answer: f[3], evidence: f[4].split(',') })
  }
  return data
}

/**
 * Stores the conversation in a new store and runs the scenario. Returns the
 * printed lines and what an interactive front-end needs next (the store, the
 * row of each id, "now").
 */
export function runScenario(MemoryStore, data, vectors, qvectors) {
  const { created, turn, texts, questions } = data
  const dim = vectors.length / texts.length
  const qvec = (i) => qvectors.subarray(i * dim, (i + 1) * dim)
  const lines = []
  const print = (s = '') => lines.push(s)

  print("OV-Memory demo: a long conversation as an agent's memory")
  print()
  print(`Data: LoCoMo conversation conv-26 (CC BY-NC 4.0, non-commercial use only), ${texts.length} turns between`)
  print(`Caroline and Melanie from ${day(created[0])} to ${day(created.at(-1))}. Each turn is one memory with its real date`)
  print('and its all-MiniLM-L6-v2 embedding.')
  print()

  const store = new MemoryStore({ embeddingDim: dim, maxNodes: 1000 })
  const ids = store.addBatch(vectors, texts, { createdAt: created, metadata: turn.map((t) => ({ turn: t })) })
  const row = new Map(ids.map((id, i) => [id, i]))
  const now = created.at(-1) + DAY_MS // "today" is the day after the last session
  print(`Stored ${store.size} memories; the honeycomb links them with ${store.metrics().edge_count} edges.`)
  print()
  print("For each question: the engine's top 3 (the question's embedding and its words) and plain")
  print("cosine's top 3 (the embedding alone). score: the engine's score, how far the match stands")
  print('above the other memories plus small bounded priors (importance, recency, links); cos: cosine')
  print('similarity; *: the turn the dataset names as the evidence for its answer.')

  const show = (label, hits, name, key, evidence) => {
    hits.forEach((h, k) => {
      const i = row.get(h.id)
      const mark = evidence.includes(turn[i]) ? '*' : ' '
      const head = `    ${(k === 0 ? label : '').padEnd(6)} ${k + 1}. ${mark} ${turn[i].padEnd(6)} ${day(created[i])}`
      print(`${head}  ${name} ${fmt3(h.score[key])}  ${clip(texts[i], 44)}`)
    })
  }
  let foundEngine = 0
  let foundCosine = 0
  for (const [n, q] of questions.entries()) {
    const engine = store.retrieve(qvec(n), { text: q.text, topK: TOP, now })
    const cosine = store.retrieve(qvec(n), { topK: TOP, alpha: 1, now })
    if (engine.some((h) => q.evidence.includes(turn[row.get(h.id)]))) foundEngine++
    if (cosine.some((h) => q.evidence.includes(turn[row.get(h.id)]))) foundCosine++
    if (q.shown) {
      print()
      print(`Q: ${q.text}`)
      print(`   the dataset's answer: ${q.answer} (evidence: ${q.evidence.join(', ')})`)
      show('engine', engine, 'score', 'P', q.evidence)
      show('cosine', cosine, 'cos', 'S', q.evidence)
    }
  }
  print()
  print(`All ${questions.length} questions of the conversation: the evidence is in the top 3 for ${foundEngine} (engine)`)
  print(`and for ${foundCosine} (plain cosine).`)

  const asked = questions.findIndex((q) => q.shown && q.evidence.length > 1)
  const q = questions[asked]
  const ctx = store.context(qvec(asked), { text: q.text, maxTokens: CONTEXT_TOKENS, now })
  print()
  print(`The context an agent would send for "${q.text}" within ${CONTEXT_TOKENS} tokens:`)
  print(`${ctx.items.length} memories, ${ctx.tokens_used} tokens (the best matches and their honeycomb neighbours, each with its date):`)
  for (const item of ctx.items) {
    const i = row.get(item.id)
    const mark = q.evidence.includes(turn[i]) ? '*' : ' '
    print(`    ${mark} ${turn[i].padEnd(6)} ${day(created[i])}  ${clip(texts[i], 64)}`)
  }

  const health = store.health()
  const metrics = store.metrics()
  print()
  print(`Health: ${health.status}, circuit breaker ${health.circuit_breaker}, ${metrics.error_count} errors in ${metrics.queries_processed} calls.`)
  return { lines, store, row, now, qvec }
}
