/**
 * `ov-memory` for Node.js: the native engine (napi-rs) behind the shared API.
 * See README.md for a quick start; every export is documented in the types.
 */
import { bindNative, type NativeModule } from '../../shared/native.js'
import { loadAddon } from './load.js'

bindNative(loadAddon() as NativeModule)

export * from '../../shared/surface.js'
