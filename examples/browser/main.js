// OV-Memory demo (browser): the same scenario as examples/c/demo.c and
// examples/node/demo.js. Everything is served from this machine; no CDN.
import { init, MemoryStore } from '../../bindings/web/dist/web/src/index.js'

function parse(tsv) {
  const memories = []
  const queries = []
  for (const line of tsv.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const f = line.split('\t')
    if (f[0] === 'M') memories.push({ weight: Number(f[1]), text: f[2], vec: Float32Array.from(f[3].split(' '), Number) })
    if (f[0] === 'Q') queries.push({ text: f[1], vec: Float32Array.from(f[2].split(' '), Number) })
  }
  return { memories, queries }
}

function el(tag, text, cls) {
  const e = document.createElement(tag)
  if (text !== undefined) e.textContent = text
  if (cls) e.className = cls
  return e
}

async function main() {
  await init()
  const { memories, queries } = parse(await (await fetch('../data/demo.tsv')).text())
  const store = new MemoryStore({ embeddingDim: 384, maxNodes: 1000 })
  for (const m of memories) store.add(m.vec, m.text, { weight: m.weight, metadata: { source: 'qa_coding' } })
  document.getElementById('summary').textContent =
    `${store.size} memories stored with their real all-MiniLM-L6-v2 embeddings; ${store.metrics().edge_count} honeycomb edges.`

  const results = []
  const box = document.getElementById('queries')
  for (const q of queries) {
    const hits = store.retrieve(q.vec, { topK: 3 })
    results.push({ query: q.text, hits: hits.map((h) => ({ id: h.id, S: h.score.S, P: h.score.P })) })
    box.append(el('h2', `Q: ${q.text}`))
    const list = el('ol')
    for (const h of hits) {
      const li = el('li')
      li.append(el('span', `[${h.score.P.toFixed(3)}] `, 'score'), `#${h.id} ${h.text}`)
      list.append(li)
    }
    box.append(list)
  }
  const health = store.health()
  const pre = document.getElementById('health')
  pre.textContent = JSON.stringify(health, null, 2)
  pre.prepend(el('span', `${health.status}\n`, 'status'))
  const healthJson = store.healthJson()
  // Alpha 1 scores are pure cosine: the browser test compares them bit for bit with the native build.
  const exact = queries.map((q) => store.retrieve(q.vec, { topK: 5, alpha: 1 }).map((h) => [h.id, h.score.P]))
  // For the browser test (after the report above): malformed input throws INVALID_DATA and leaves the instance usable.
  const malformed = []
  for (const bad of ['text', [1, 2], new Float64Array(384), null]) {
    try {
      store.add(bad, 'x')
    } catch (e) {
      malformed.push(e.code)
    }
  }
  window.demoResult = { size: store.size, results, exact, malformed, health, healthJson }
}

main().catch((e) => {
  document.getElementById('error').textContent = `Error: ${e.code ?? ''} ${e.message}`
  window.demoResult = { error: String(e) }
})
