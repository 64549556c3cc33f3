/**
 * `ov-memory` for Node.js: the native engine (napi-rs) behind the shared API.
 * See README.md for a quick start; every export is documented in the types.
 */
import { bindNative, type NativeModule } from '../../shared/surface'

// The addon sits in the package's native/ folder, three levels above dist/node/src.
// eslint-disable-next-line @typescript-eslint/no-require-imports
bindNative(require('../../../native/ov-memory.node') as NativeModule)

export * from '../../shared/surface'
