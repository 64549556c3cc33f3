// Loads the package under test: the napi build (default) or the wasm build
// (OV_MEMORY_TARGET=wasm), so one suite checks both, as lightningcss does.
import { createRequire } from 'node:module'

export const target = process.env.OV_MEMORY_TARGET === 'wasm' ? 'wasm' : 'node'

async function load() {
  if (target === 'wasm') {
    const mod = await import('../web/dist/web/src/node.js')
    await mod.ready
    return mod
  }
  return createRequire(import.meta.url)('../node')
}

export const api = await load()
