// The browser build in headless Chromium (Playwright, Debian's chromium), served
// from 127.0.0.1: the demo page's results must equal the native build's, and the
// README's browser quick start must run.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { serve } from '../../examples/browser/serve.mjs'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

function demoData() {
  const memories = []
  const queries = []
  for (const line of readFileSync(`${repo}/examples/data/demo.tsv`, 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue
    const f = line.split('\t')
    if (f[0] === 'M') memories.push({ weight: Number(f[1]), text: f[2], vec: Float32Array.from(f[3].split(' '), Number) })
    if (f[0] === 'Q') queries.push({ text: f[1], vec: Float32Array.from(f[2].split(' '), Number) })
  }
  return { memories, queries }
}

test('browser build in headless Chromium', { skip: process.env.OV_MEMORY_TARGET === 'wasm', timeout: 120_000 }, async (t) => {
  const server = await serve(0)
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: FLAGS })
  t.after(async () => {
    await browser.close()
    await server.close()
  })

  await t.test('the demo page gives the native build\'s results', async () => {
    const page = await browser.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await page.goto(`${server.url}examples/browser/`)
    await page.waitForFunction(() => window.demoResult !== undefined, null, { timeout: 60_000 })
    const r = await page.evaluate(() => window.demoResult)
    assert.deepEqual(errors, [])
    assert.equal(r.error, undefined, r.error)

    const native = createRequire(import.meta.url)('../node')
    const { memories, queries } = demoData()
    const store = new native.MemoryStore({ embeddingDim: 384, maxNodes: 1000 })
    for (const m of memories) store.add(m.vec, m.text, { weight: m.weight, metadata: { source: 'qa_coding' } })
    assert.equal(r.size, store.size)
    for (const [i, q] of queries.entries()) {
      const hits = store.retrieve(q.vec, { topK: 3 })
      assert.deepEqual(r.results[i].hits.map((h) => h.id), hits.map((h) => h.id), q.text)
      assert.deepEqual(r.results[i].hits.map((h) => h.S), hits.map((h) => h.score.S), `${q.text}: S bit for bit`)
      // P includes recency R = exp(-age/1 day); the two stores were built moments apart,
      // so P may differ by (1 - alpha) * seconds / 86400 — far below 1e-4.
      for (const [k, h] of hits.entries()) assert.ok(Math.abs(r.results[i].hits[k].P - h.score.P) < 1e-4)
      const exact = store.retrieve(q.vec, { topK: 5, alpha: 1 }).map((h) => [h.id, h.score.P])
      assert.deepEqual(r.exact[i], exact, `${q.text}: alpha 1 scores bit for bit`)
    }
    assert.deepEqual(r.malformed, ['INVALID_DATA', 'INVALID_DATA', 'INVALID_DATA', 'INVALID_DATA'])
    assert.equal(r.health.status, 'HEALTHY')
    assert.equal(r.health.metrics.nodes, 36)
    assert.ok(r.healthJson.length < 512)
    assert.match(await page.textContent('#health'), /HEALTHY/)
    await page.close()
  })

  await t.test('the README browser quick start runs', async () => {
    const readme = readFileSync(`${repo}/README.md`, 'utf8')
    const snippet = readme.split('<!-- quickstart-browser -->')[1]?.match(/```html\n([\s\S]*?)```/)?.[1]
    assert.ok(snippet, 'README has no browser quick start')
    mkdirSync(`${repo}/build`, { recursive: true })
    // The snippet imports the package from node_modules; here it is served from the repository.
    writeFileSync(`${repo}/build/browser-quickstart.html`, snippet.replaceAll('./node_modules/ov-memory-web/', '/bindings/web/'))
    const page = await browser.newPage()
    const lines = []
    page.on('console', (m) => lines.push(m.text()))
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await page.goto(`${server.url}build/browser-quickstart.html`)
    await page.waitForFunction(() => document.body.dataset.done === 'yes', null, { timeout: 60_000 })
    assert.deepEqual(errors, [])
    assert.ok(lines.some((l) => l.includes('The user prefers green tea')), lines.join('\n'))
    assert.ok(lines.some((l) => l.includes('"status":"HEALTHY"')), lines.join('\n'))
    await page.close()
  })

  await t.test('the web package works through a Vite build', async () => {
    // The packed tarball installed into a fresh app, bundled by Vite as a user would.
    const app = `${repo}/build/vite-app`
    rmSync(app, { recursive: true, force: true })
    mkdirSync(app, { recursive: true })
    const run = (cmd, args) => execFileSync(cmd, args, { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    run('npm', ['pack', `${repo}/bindings/web`, '--silent'])
    const tarball = readdirSync(app).find((f) => f.endsWith('.tgz'))
    writeFileSync(`${app}/package.json`, JSON.stringify({ name: 'vite-check', private: true, type: 'module' }))
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', `./${tarball}`])
    writeFileSync(`${app}/index.html`, '<!doctype html><meta charset="utf-8"><script type="module" src="./main.js"></script>\n')
    writeFileSync(`${app}/main.js`, [
      "import { init, MemoryStore } from 'ov-memory-web'",
      // Vite's default targets predate top-level await.
      'init().then(() => {',
      '  const store = new MemoryStore({ embeddingDim: 2 })',
      "  store.add([1, 0], 'bundled by Vite')",
      '  window.viteResult = { text: store.retrieve([1, 0])[0].text, status: store.health().status }',
      '})',
    ].join('\n'))
    run(`${repo}/bindings/node_modules/.bin/vite`, ['build', '--base', './', '--logLevel', 'warn'])
    const assets = readdirSync(`${app}/dist/assets`)
    assert.ok(assets.some((f) => f.endsWith('.wasm')), `Vite emitted the .wasm: ${assets}`)
    const page = await browser.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await page.goto(`${server.url}build/vite-app/dist/index.html`)
    await page.waitForFunction(() => window.viteResult !== undefined, null, { timeout: 60_000 })
    assert.deepEqual(errors, [])
    assert.deepEqual(await page.evaluate(() => window.viteResult), { text: 'bundled by Vite', status: 'HEALTHY' })
    await page.close()
  })
})
