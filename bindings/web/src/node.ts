/**
 * `ov-memory-web` in Node (the package's `node` export condition): the same
 * API, with an `init()` that reads the bundled `.wasm` from disk (Node's
 * `fetch` cannot read `file:` URLs).
 */
import { readFile } from 'node:fs/promises'
import { init as initWith, type WasmSource } from './index.js'

export * from './index.js'

/** Loads and instantiates the WebAssembly module (idempotent); without a source, from the package's own file. */
export async function init(source?: WasmSource): Promise<void> {
  return initWith(source ?? (await readFile(new URL('../pkg/ov_memory_wasm_bg.wasm', import.meta.url))))
}

/** Resolves once the module is instantiated from the package's file (the same as `await init()`). */
export const ready: Promise<void> = init()
