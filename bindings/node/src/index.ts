/**
 * `ov-memory` for Node.js: the native engine (napi-rs) behind the shared API.
 * See README.md for a quick start; every export is documented in the types.
 */
import { bindNative } from '../../shared/native.js'
import type * as Addon from '../native.js'
import { loadAddon } from './load.js'

// The addon's declarations are generated from its Rust code (napi-rs): the
// compiler checks here that it provides what the shared API calls.
bindNative(loadAddon() as typeof Addon)

export * from '../../shared/surface.js'
