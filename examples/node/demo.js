// OV-Memory demo (Node): the same coding-assistant scenario as examples/c/demo.c.
// Loads examples/data/demo.tsv (real all-MiniLM-L6-v2 embeddings), stores the
// memories, answers the demo questions, and prints context, health and metrics.
'use strict'
const { readFileSync } = require('node:fs')
const { join } = require('node:path')
const { MemoryStore } = require('../../bindings/node')

async function main() {
  const path = process.argv[2] ?? join(__dirname, '..', 'data', 'demo.tsv')
  const memories = []
  const queries = []
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue
    const f = line.split('\t')
    if (f[0] === 'M') memories.push({ weight: Number(f[1]), text: f[2], vec: Float32Array.from(f[3].split(' '), Number) })
    if (f[0] === 'Q') queries.push({ text: f[1], vec: Float32Array.from(f[2].split(' '), Number) })
  }

  const store = new MemoryStore({ embeddingDim: 384, maxNodes: 1000 })
  for (const m of memories) {
    await store.addAsync(m.vec, m.text, { weight: m.weight, metadata: { source: 'qa_coding' } })
  }
  console.log(`stored ${store.size} memories`)

  for (const [i, q] of queries.entries()) {
    console.log(`\nQ: ${q.text}`)
    const hits = await store.retrieveAsync(q.vec, { topK: 3 })
    hits.forEach((h, k) => console.log(`  ${k + 1}. [${h.score.P.toFixed(3)}] #${h.id} ${h.text}`))
    if (i === 1) {
      const ctx = await store.contextAsync(q.vec, { maxTokens: 64 })
      console.log(`  context (${ctx.tokens_used} tokens, alpha ${ctx.alpha}): ${JSON.stringify(ctx.context)}`)
      for (const item of ctx.items) console.log(`    #${item.id} trigger=${item.trigger} hops=${item.hops} P=${item.score.P.toFixed(3)}`)
    }
  }
  console.log(`\nhealth: ${store.healthJson()}`)
  const m = store.metrics()
  console.log(`metrics: ${m.queries_processed} calls, p50 ${m.p50_latency_ms} ms, p99 ${m.p99_latency_ms} ms, ${m.edge_count} edges`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
