// OV-Memory in the browser: the demo scenario (examples/node/scenario.mjs, the
// same lines as every terminal demo), then an interactive page over the same
// store — ask a question of the conversation or type words, see the hits with
// their score parts, the honeycomb around them, the context a model would get,
// live health and metrics, and a snapshot kept in IndexedDB. Everything is
// served from this machine; no CDN.
import { init, MemoryStore } from '../../bindings/web/dist/web/src/index.js'
import { clip, day, fmt3, parseConversation, runScenario } from '../node/scenario.mjs'

const TOP = 5
const TOKENS = 200
const $ = (id) => document.getElementById(id)
const SVG = 'http://www.w3.org/2000/svg'

function el(tag, props = {}, ...children) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag)
  for (const [k, v] of Object.entries(props)) {
    if (k === 'text') e.textContent = v
    else if (tag.startsWith('svg:')) e.setAttribute(k, v)
    else e[k] = v
  }
  e.append(...children)
  return e
}

async function f32(url) {
  return new Float32Array(await (await fetch(url)).arrayBuffer())
}

// ------------------------------------------------------------------ IndexedDB

function idb(mode, fn) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('ov-memory-demo', 1)
    open.onupgradeneeded = () => open.result.createObjectStore('snapshots')
    open.onerror = () => reject(open.error)
    open.onsuccess = () => {
      const tx = open.result.transaction('snapshots', mode)
      const req = fn(tx.objectStore('snapshots'))
      tx.oncomplete = () => { open.result.close(); resolve(req.result) }
      tx.onerror = () => reject(tx.error)
    }
  })
}

// ------------------------------------------------------------------ the page

async function main() {
  await init()
  const data = parseConversation(await (await fetch('../data/conversation.tsv')).text())
  const [vectors, qvectors] = await Promise.all(data.files.map((f) => f32(`../../${f}`)))
  const scenario = runScenario(MemoryStore, data, vectors, qvectors)
  let store = scenario.store
  const { now, qvec } = scenario
  const { created, turn, texts, questions } = data
  // Ids are assigned in insertion order, so a restored snapshot keeps them.
  const row = (id) => scenario.row.get(id)
  $('transcript').textContent = scenario.lines.join('\n')
  $('summary').textContent = `${store.size} turns of a real conversation (LoCoMo conv-26, Caroline and Melanie, ` +
    `${day(created[0])} to ${day(created.at(-1))}; CC BY-NC 4.0, non-commercial) stored in WebAssembly with their ` +
    `all-MiniLM-L6-v2 embeddings and real dates. Pick a question, or type words.`

  for (const [i, q] of questions.entries()) {
    $('question').append(el('option', { value: String(i), text: `${q.text}  — answer: ${clip(q.answer, 40)}` }))
  }
  $('question').value = String(questions.findIndex((q) => q.shown && q.evidence.length > 1))

  function renderHits(hits, evidence, how) {
    $('hits-meta').textContent = how
    const maxP = Math.max(1e-9, ...hits.map((h) => h.score.P))
    const maxL = Math.max(1e-9, ...hits.map((h) => h.score.L))
    const parts = [['S', (s) => s.S], ['L', (s) => s.L / maxL], ['G', (s) => s.G], ['R', (s) => s.R], ['W', (s) => Math.min(1, s.W)], ['P', (s) => s.P / maxP]]
    $('hits').replaceChildren(...hits.map((h, k) => {
      const i = row(h.id)
      const bars = el('div', { className: 'bars' })
      for (const [name, scaled] of parts) {
        const w = Math.max(0, Math.min(1, scaled(h.score)))
        bars.append(el('span', { text: name }), el('div', { className: `bar ${name}` }, el('span', { style: `width:${(w * 100).toFixed(1)}%` })),
          el('span', { className: 'num', text: fmt3(h.score[name]) }))
      }
      return el('div', { className: `hit${evidence.includes(turn[i]) ? ' evidence' : ''}` },
        el('div', { className: 'who', text: `${k + 1}. ${turn[i]} · ${day(created[i])}` }),
        el('div', { text: texts[i] }), bars)
    }))
  }

  function renderGraph(hits, evidence) {
    const svg = $('graph')
    svg.setAttribute('viewBox', '0 0 420 330')
    const cx = 210
    const cy = 165
    const hitIds = hits.map((h) => h.id)
    const pos = new Map()
    hitIds.forEach((id, k) => {
      const a = (2 * Math.PI * k) / hitIds.length - Math.PI / 2
      pos.set(id, [cx + 62 * Math.cos(a), cy + 62 * Math.sin(a)])
    })
    const neighbours = []
    const edges = []
    for (const id of hitIds) {
      for (const n of store.get(id)?.neighbors ?? []) {
        edges.push([id, n])
        if (!pos.has(n) && !neighbours.includes(n)) neighbours.push(n)
      }
    }
    neighbours.forEach((id, k) => {
      const a = (2 * Math.PI * k) / Math.max(1, neighbours.length) - Math.PI / 2
      pos.set(id, [cx + 145 * Math.cos(a), cy + 140 * Math.sin(a)])
    })
    const seen = new Set()
    const lines = []
    for (const [a, b] of edges) {
      const key = a < b ? `${a}-${b}` : `${b}-${a}`
      if (seen.has(key)) continue
      seen.add(key)
      const [x1, y1] = pos.get(a)
      const [x2, y2] = pos.get(b)
      lines.push(el('svg:line', { x1, y1, x2, y2 }))
    }
    const nodes = []
    for (const [id, [x, y]] of pos) {
      const i = row(id)
      const isHit = hitIds.includes(id)
      const cls = `${isHit ? 'hit' : 'neighbour'}${evidence.includes(turn[i]) ? ' evidence' : ''}`
      const c = el('svg:circle', { cx: x, cy: y, r: isHit ? 11 : 7, class: cls, 'data-id': id })
      c.append(el('svg:title', { text: `${turn[i]} · ${day(created[i])}\n${texts[i]}` }))
      nodes.push(c, el('svg:text', { x: x + (isHit ? 13 : 9), y: y + 3, text: turn[i] }))
    }
    svg.replaceChildren(...lines, ...nodes)
  }

  function renderHealth() {
    const h = store.health()
    const m = store.metrics()
    const r = m.operations.retrieve
    const rows = [
      ['status', h.status, h.status], ['circuit breaker', h.circuit_breaker], ['calls', m.queries_processed],
      ['errors', `${m.error_count} (${fmt3(h.error_rate_pct)} % in the window)`],
      ['retrieve p50 / p99', `${fmt3(r.p50_latency_ms)} / ${fmt3(r.p99_latency_ms)} ms over ${r.count} calls`],
      ['memories / edges', `${m.node_count} / ${m.edge_count}`],
      ['memory estimate', `${(m.memory_estimate_bytes / 1048576).toFixed(1)} MiB`],
      ['metabolism', `${m.metabolism.used_tokens} of ${m.metabolism.budget_tokens} tokens used (${m.metabolism.state})`],
    ]
    $('health').replaceChildren(...rows.flatMap(([k, v, cls]) => [el('dt', { text: k }), el('dd', { text: String(v), className: cls ?? '' })]))
  }

  function ask() {
    const words = $('words').value.trim()
    const i = Number($('question').value)
    const q = questions[i]
    // Typed words: a text-only query, served by the lexical index alone.
    const query = words ? null : qvec(i)
    const text = words || q.text
    const evidence = words ? [] : q.evidence
    const hits = store.retrieve(query, { text, topK: TOP, now })
    renderHits(hits, evidence, words
      ? `Words "${clip(words, 40)}": BM25 on the lexical index, no embedding.`
      : `"${q.text}" — the dataset's answer: ${q.answer} (evidence ${q.evidence.join(', ')}).`)
    renderGraph(hits, evidence)
    const ctx = store.context(query, { text, maxTokens: TOKENS, now })
    $('context-meta').textContent = `${ctx.tokens_used} of ${TOKENS} tokens, ${ctx.items.length} memories ` +
      `(${ctx.considered} considered; the guardrails dropped ${ctx.guardrails.redundancy} redundant, ${ctx.guardrails.drift} drifting).`
    $('context').textContent = ctx.context
    renderHealth()
    window.demo.lastAsk = { words, question: words ? null : i, hits: hits.map((h) => h.id), context: ctx }
  }

  $('ask').addEventListener('submit', (e) => { e.preventDefault(); ask() })
  $('question').addEventListener('change', () => { $('words').value = ''; ask() })
  $('save').addEventListener('click', async () => {
    const bytes = store.toBytes()
    await idb('readwrite', (s) => s.put(bytes, 'conversation'))
    $('persist-status').textContent = `saved ${store.size} memories (${(bytes.length / 1024).toFixed(0)} KiB) to IndexedDB`
    window.demo.saved = bytes.length
  })
  $('restore').addEventListener('click', async () => {
    const bytes = await idb('readonly', (s) => s.get('conversation'))
    if (!bytes) {
      $('persist-status').textContent = 'nothing saved yet'
      return
    }
    const restored = MemoryStore.fromBytes(bytes)
    store.free()
    store = restored
    $('persist-status').textContent = `restored ${store.size} memories from IndexedDB (a new store from the snapshot)`
    window.demo.restored = store.size
    ask()
  })

  window.demo = { transcript: scenario.lines.join('\n'), ask, ready: true }
  ask()
}

main().catch((e) => {
  $('error').textContent = `Error: ${e.code ?? ''} ${e.message}`
  window.demo = { error: String(e) }
})
