/**
 * Finds the native addon for this platform, the napi-rs way: the binary sits
 * in a per-platform package (`ov-memory-linux-x64-gnu`, …) that npm installs
 * through the main package's optionalDependencies, picking the one whose
 * os/cpu/libc match. A build from source leaves it in `npm/<platform>/`
 * instead, which is tried first. Internal: not exported by the package.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'

/** The platforms with a published binary. */
export const SUPPORTED = ['linux-x64-gnu'] as const

/** This process's platform as napi-rs names it: os-cpu[-libc]. */
export function platformTriple(): string {
  const { platform, arch } = process
  if (platform !== 'linux') return `${platform}-${arch}`
  // glibc reports its version; musl does not.
  const report = (process.report?.getReport() ?? {}) as { header?: { glibcVersionRuntime?: string } }
  return `${platform}-${arch}-${report.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
}

export function loadAddon(): unknown {
  const triple = platformTriple()
  // dist/node/src -> the package root.
  const local = join(__dirname, '..', '..', '..', 'npm', triple, `ov-memory.${triple}.node`)
  if (existsSync(local)) return require(local)
  try {
    return require(`ov-memory-${triple}`)
  } catch (e) {
    const supported = (SUPPORTED as readonly string[]).includes(triple)
    const why = supported
      ? `its package ov-memory-${triple} is not installed (npm skips optional dependencies with --no-optional or --omit=optional): ${(e as Error).message}`
      : `no binary is published for ${triple}; the packages exist for ${SUPPORTED.join(', ')} (or build from source: make node)`
    throw new Error(`ov-memory: cannot load the native addon for ${triple}: ${why}`)
  }
}
