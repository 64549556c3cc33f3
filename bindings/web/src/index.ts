/**
 * `ov-memory-web`: the engine compiled to WebAssembly (SIMD) behind the same API
 * as the Node package. Call `init()` once before creating stores:
 *
 * ```js
 * import { init, MemoryStore } from './ov-memory-web/dist/web/src/index.js'
 * await init()
 * const store = new MemoryStore({ embeddingDim: 384 })
 * ```
 */
import initWasm, * as wasm from '../pkg/ov_memory_wasm.js'
import { bindNative, type NativeModule } from '../../shared/surface.js'

export * from '../../shared/surface.js'

/** What `init` accepts: nothing (fetch the bundled .wasm next to this module), a URL, a Response, or the bytes. */
export type WasmSource = URL | string | Response | BufferSource | WebAssembly.Module

let initialised: Promise<void> | undefined

/** Loads and instantiates the WebAssembly module (idempotent). */
export function init(source?: WasmSource): Promise<void> {
  initialised ??= (async () => {
    await initWasm(source === undefined ? undefined : { module_or_path: source as never })
    bindNative(wasm as unknown as NativeModule)
  })()
  return initialised
}
