// Cargo's runner for the core's unit tests compiled to wasm32-wasip1 with
// simd128 (`make test-wasm-core`): runs a test binary in Node's WASI, so the
// browser build's SIMD kernels are checked against their scalar references
// in V8, the engine of Node and Chrome that also runs the browser package.
// Usage: node --no-turbo-fast-api-calls run.mjs TEST.wasm [libtest arguments...]
// (Without that flag Node 20's WASI calls take V8's fast path, which can use
// the module's memory as it was before the module grew it: about half the runs
// crashed with SIGSEGV after every test had passed. nodejs/node#53087.)
import { readFileSync } from 'node:fs'
import { WASI } from 'node:wasi'

const [file, ...args] = process.argv.slice(2)
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: {}, preopens: {} })
const module = await WebAssembly.compile(readFileSync(file))
const instance = await WebAssembly.instantiate(module, wasi.getImportObject())
process.exitCode = wasi.start(instance)
