// TIMEOUT and CIRCUIT_OPEN through the napi build: a large batch holds the
// store's write lock on the thread pool for a few hundred ms; a retrieve that
// meets it waits past its 1 ms deadline and then times out.
const dim = 384
const n = 2500

function batch(api, s) {
  const flat = new Float32Array(n * dim)
  for (let i = 0; i < flat.length; i++) flat[i] = Math.sin(i * 0.37)
  return s.addBatchAsync(flat, Array.from({ length: n }, (_, i) => `m${i}`))
}

async function timedOut(api, s) {
  let done = false
  const pending = batch(api, s).finally(() => {
    done = true
  })
  // Retrieve until one call meets the lock the batch holds: it waits past its
  // 1 ms deadline and times out. Calls made before the batch takes the lock
  // (or after it) simply succeed, so the test does not depend on timing.
  let error
  while (!done && !error) {
    try {
      s.retrieve(new Float32Array(dim).fill(0.1), { timeoutMs: 1 })
    } catch (e) {
      error = e
    }
    await new Promise((r) => setTimeout(r, 2))
  }
  // A retrieve may miss its 1 ms before the batch starts (a busy machine) and
  // open a breaker of threshold 1: the batch is then rejected, which is fine here.
  await pending.catch((e) => {
    if (e?.code !== 'CIRCUIT_OPEN') throw e
  })
  return error
}

export async function timeout(api) {
  const s = new api.MemoryStore({ embeddingDim: dim, maxNodes: 100000 })
  return timedOut(api, s)
}

export async function circuitOpen(api) {
  const s = new api.MemoryStore({ embeddingDim: dim, maxNodes: 100000, breaker: { failureThreshold: 1 } })
  const e = await timedOut(api, s)
  if (e?.code !== 'TIMEOUT') throw new Error(`expected TIMEOUT, got ${e}`)
  try {
    s.retrieve(new Float32Array(dim).fill(0.1))
  } catch (e2) {
    if (s.health().circuit_breaker !== 'OPEN') throw new Error('breaker not open')
    s.resetBreaker()
    s.retrieve(new Float32Array(dim).fill(0.1))
    return e2.code
  }
  return 'no error'
}
