// OV-Memory demo (Node). The same scenario, line for line, as the C, Rust,
// Python, Java and browser demos: a real conversation (LoCoMo conv-26) stored
// as an agent's memory, its questions asked of the engine and of plain cosine
// similarity, a context within a token budget, and the health line (the
// scenario itself is scenario.mjs, shared with the browser page).
//
//   node examples/node/demo.mjs [--wasm] [examples/data/conversation.tsv]
//
// --wasm runs the browser package (WebAssembly) in Node instead of the native one.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { parseConversation, runScenario } from './scenario.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))

function readF32(path) {
  const b = readFileSync(new URL(path, `file://${root}`))
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
}

const args = process.argv.slice(2)
const wasm = args.includes('--wasm')
const tsv = args.find((a) => a !== '--wasm') ?? `${root}examples/data/conversation.tsv`
let MemoryStore
if (wasm) {
  const web = await import('../../bindings/web/dist/web/src/node.js')
  await web.init()
  MemoryStore = web.MemoryStore
} else {
  MemoryStore = createRequire(import.meta.url)('../../bindings/node').MemoryStore
}
const data = parseConversation(readFileSync(tsv, 'utf8'))
const { lines, store } = runScenario(MemoryStore, data, readF32(data.files[0]), readF32(data.files[1]))
process.stdout.write(lines.join('\n') + '\n')
store.free?.()
