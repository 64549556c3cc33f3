// TIMEOUT and CIRCUIT_OPEN through the wasm build, deterministically: the build
// reads the host's clock (performance.now) on every check, so the test makes
// that clock jump 1 s per read while one retrieve runs.
async function withJumpingClock(f) {
  const original = performance.now
  let t = original.call(performance)
  performance.now = () => (t += 1000)
  try {
    return f()
  } finally {
    performance.now = original
  }
}

function timedOut(s) {
  return withJumpingClock(() => {
    try {
      s.retrieve(new Float32Array([1, 0, 0, 0]), { timeoutMs: 1 })
    } catch (e) {
      return e
    }
  })
}

function store(api, extra = {}) {
  const s = new api.MemoryStore({ embeddingDim: 4, ...extra })
  s.add([1, 0, 0, 0], 'one memory to scan')
  return s
}

export async function timeout(api) {
  return timedOut(store(api))
}

export async function circuitOpen(api) {
  const s = store(api, { breaker: { failureThreshold: 1 } })
  const e = await timedOut(s)
  if (e?.code !== 'TIMEOUT') throw new Error(`expected TIMEOUT, got ${e}`)
  try {
    s.retrieve(new Float32Array([1, 0, 0, 0]))
  } catch (e2) {
    if (s.health().circuit_breaker !== 'OPEN') throw new Error('breaker not open')
    s.resetBreaker()
    s.retrieve(new Float32Array([1, 0, 0, 0]))
    return e2.code
  }
  return 'no error'
}
