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

test('browser build in headless Chromium', { skip: process.env.OV_MEMORY_TARGET === 'wasm', timeout: 120_000 }, async (t) => {
  const server = await serve(0)
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: FLAGS })
  t.after(async () => {
    await browser.close()
    await server.close()
  })

  await t.test('the demo page: the scenario as every terminal demo prints it, then each panel', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await page.goto(`${server.url}examples/browser/`)
    await page.waitForFunction(() => window.demo !== undefined, null, { timeout: 60_000 })
    assert.equal(await page.evaluate(() => window.demo.error), undefined)
    assert.deepEqual(errors, [])

    // The same lines as the native build (and so as C, Rust, Python and Java: make demo compares those).
    const native = createRequire(import.meta.url)('../node')
    const { parseConversation, runScenario } = await import('../../examples/node/scenario.mjs')
    const data = parseConversation(readFileSync(`${repo}/examples/data/conversation.tsv`, 'utf8'))
    const f32 = (f) => { const b = readFileSync(`${repo}/${f}`); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) }
    const expected = runScenario(native.MemoryStore, data, f32(data.files[0]), f32(data.files[1])).lines.join('\n')
    assert.equal(await page.evaluate(() => window.demo.transcript), expected)
    assert.equal(await page.textContent('#transcript'), expected)

    // The first question (two evidence turns): hits with their score parts as bars.
    assert.equal(await page.locator('#hits .hit').count(), 5)
    assert.equal(await page.locator('#hits .hit').first().locator('.bar').count(), 6)
    assert.ok(await page.locator('#hits .hit.evidence').count() >= 1, 'an evidence turn is among the hits')
    // The honeycomb: the 5 hits, their neighbours, the links.
    assert.equal(await page.locator('#graph circle.hit').count(), 5)
    assert.ok(await page.locator('#graph circle.neighbour').count() >= 1)
    assert.ok(await page.locator('#graph line').count() >= 5)
    // The context for a model, with its tokens.
    assert.match(await page.textContent('#context-meta'), /^\d+ of 200 tokens, \d+ memories/)
    assert.match(await page.textContent('#context'), /clarinet/)
    // Live health: the call count grows with each question.
    assert.match(await page.textContent('#health'), /HEALTHY/)
    const calls = async () => Number((await page.locator('#health dd').nth(2).textContent()))
    const before = await calls()
    await page.selectOption('#question', { index: 90 })
    await page.waitForFunction((n) => Number(document.querySelectorAll('#health dd')[2].textContent) > n, before)
    assert.equal(await page.evaluate(() => window.demo.lastAsk.question), 90)
    // Typed words: a text-only query on the lexical index.
    await page.fill('#words', 'pottery class')
    await page.click('#go')
    await page.waitForFunction(() => window.demo.lastAsk.words === 'pottery class')
    assert.match(await page.textContent('#hits-meta'), /BM25 on the lexical index/)
    assert.match((await page.locator('#hits .hit').first().textContent()).toLowerCase(), /pottery/)
    // Save to IndexedDB, restore into a new store: the same answers.
    const answer = await page.evaluate(() => window.demo.lastAsk.hits)
    await page.click('#save')
    await page.waitForFunction(() => window.demo.saved > 0)
    await page.click('#restore')
    await page.waitForFunction(() => window.demo.restored === 419)
    assert.deepEqual(await page.evaluate(() => window.demo.lastAsk.hits), answer)
    assert.match(await page.textContent('#persist-status'), /restored 419 memories/)

    // The screenshot the README shows (make screenshot copies it to docs/).
    await page.fill('#words', '')
    await page.selectOption('#question', { index: 58 })
    await page.waitForFunction(() => window.demo.lastAsk.question === 58)
    mkdirSync(`${repo}/build/screenshots`, { recursive: true })
    await page.evaluate(() => window.scrollTo(0, 0))
    await page.screenshot({ path: `${repo}/build/screenshots/demo-browser.png`, fullPage: true })
    assert.deepEqual(errors, [])
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
