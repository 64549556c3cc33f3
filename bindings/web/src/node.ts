/**
 * Node entry of the browser package (used by the shared test suite): reads the
 * bundled .wasm from disk instead of fetching it. `await ready` before use.
 */
import { readFileSync } from 'node:fs'
import { init } from './index.js'

export * from './index.js'

/** Resolves once the module is instantiated. */
export const ready: Promise<void> = init(readFileSync(new URL('../pkg/ov_memory_wasm_bg.wasm', import.meta.url)))
