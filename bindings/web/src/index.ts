/**
 * `ov-memory-web`: the engine compiled to WebAssembly (SIMD) behind the same API
 * as the Node package. Call `init()` once before creating stores:
 *
 * ```js
 * import { init, MemoryStore } from 'ov-memory-web'
 * await init()
 * const store = new MemoryStore({ embeddingDim: 384 })
 * ```
 *
 * In a browser or a bundler (Vite, webpack, esbuild) `init()` fetches the
 * `.wasm` file that sits next to this module; in Node (the package's `node`
 * export condition) it reads that file from disk.
 */
import initWasm, * as wasm from '../pkg/ov_memory_wasm.js'
import { bindNative } from '../../shared/native.js'

export * from '../../shared/surface.js'

/** What `init` accepts: nothing (the bundled .wasm), a URL, a Response, the bytes or a compiled module. */
export type WasmSource = URL | string | Response | BufferSource | WebAssembly.Module

let initialised: Promise<void> | undefined

/** Loads and instantiates the WebAssembly module (idempotent: later calls return the first promise). */
export function init(source?: WasmSource): Promise<void> {
  initialised ??= (async () => {
    await initWasm(source === undefined ? undefined : { module_or_path: source as never })
    // The module's declarations are generated from its Rust code (wasm-bindgen):
    // the compiler checks here that it provides what the shared API calls.
    bindNative(wasm)
  })()
  return initialised
}
