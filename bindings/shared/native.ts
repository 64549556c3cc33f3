/**
 * The protocol between the shared JavaScript API (./surface.ts) and a native
 * module (napi-rs or wasm-bindgen). Internal: each package's entry point binds
 * its module here; nothing in this file is exported by the packages.
 *
 * Both modules' TypeScript declarations are generated from their Rust code
 * (napi-rs `--dts`, wasm-bindgen), and each entry point passes its module to
 * `bindNative` as declared there: the compiler checks every method the shared
 * API calls against what the Rust code exports.
 */

/** What a native module provides (napi-rs or wasm-bindgen). Not public API. */
export interface NativeStoreLike {
  add(embedding: Float32Array, text: string, weight?: number | null, metadataJson?: string | null, timeoutMs?: number | null, createdAt?: number | null, extraJson?: string | null): number
  addAsync?(embedding: Float32Array, text: string, weight?: number | null, metadataJson?: string | null, timeoutMs?: number | null, createdAt?: number | null, extraJson?: string | null): Promise<string>
  addBatch(embeddings: Float32Array, texts: string[], weights?: number[] | null, metadataJson?: Array<string | null> | null, timeoutMs?: number | null, createdAt?: number[] | null, extraJson?: string | null): number[] | Float64Array
  addBatchAsync?(embeddings: Float32Array, texts: string[], weights?: number[] | null, metadataJson?: Array<string | null> | null, timeoutMs?: number | null, createdAt?: number[] | null, extraJson?: string | null): Promise<string>
  get(id: number): string | null | undefined
  update(id: number, embedding: Float32Array | null, patchJson: string | null): void
  list(optionsJson: string): string
  count(optionsJson: string): number
  getMany(ids: number[]): string
  deleteMany(ids: number[]): number
  deleteNamespace(namespace: string): number
  sweep(): number
  namespaces(): string
  hubs(namespace: string): number[] | Float64Array
  exportJsonl(optionsJson: string): string
  importJsonl(jsonl: string, optionsJson: string): string
  retrieveMany(count: number, embeddings: Float32Array | null, hasEmbedding: Uint8Array | null, texts: Array<string | null> | null, optionsJson: string): string
  retrieveManyAsync?(count: number, embeddings: Float32Array | null, hasEmbedding: Uint8Array | null, texts: Array<string | null> | null, optionsJson: string): Promise<string>
  delete(id: number): void
  size(): number
  retrieve(query: Float32Array | null, optionsJson: string): string
  retrievePacked(query: Float32Array | null, topK: number, optionsJson: string): [Float64Array, string]
  retrieveAsync?(query: Float32Array | null, optionsJson: string): Promise<string>
  context(query: Float32Array | null, optionsJson: string, counter?: ((text: string) => number) | null): string
  contextAsync?(query: Float32Array | null, optionsJson: string): Promise<string>
  health(): string
  metrics(): string
  prometheus(): string
  openmetrics(): string
  setLogLevel(level: string): void
  logLevel(): string
  setLogCallback(callback: ((line: string) => void) | null): void
  resetBreaker(): void
  metabolism(): string
  resetMetabolism(): void
  resizeMetabolism(budgetTokens: number): void
  config(): string
  toBytes(): Uint8Array
  loadBytes(bytes: Uint8Array): void
  save?(path: string): void
  saveAsync?(path: string): Promise<string>
  load?(path: string): void
  setAutosave?(path: string | null, everyChanges: number): void
  loadAsync?(path: string): Promise<string>
  free?(): void
}

/** A native module: a constructor of native stores. Not public API. */
export interface NativeModule {
  NativeStore: {
    new (configJson: string): NativeStoreLike
    estimateTokens(text: string): number
    packedHitFields(): string[]
    fromBytes(bytes: Uint8Array, configJson?: string | null): NativeStoreLike
    open?(path: string, configJson?: string | null): NativeStoreLike
  }
}

let native: NativeModule | undefined

/** Binds the native implementation (called once by each package's entry point). */
export function bindNative(mod: NativeModule): void {
  native = mod
}

/** The bound native module, if any. */
export function boundNative(): NativeModule | undefined {
  return native
}
