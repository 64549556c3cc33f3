// npm pack the package, install the tarball into a fresh project, and run the
// original usage examples (JS, and TS type-checked with tsc --strict) and the README's
// Node quick start there.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const bindings = fileURLToPath(new URL('..', import.meta.url))
const repo = join(bindings, '..')
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

test('the packed tarball installs and runs the original usage examples and the README quick start', { skip: process.env.OV_MEMORY_TARGET === 'wasm' }, () => {
  const work = mkdtempSync(join(tmpdir(), 'ov-memory-pack-'))
  run('npm', ['pack', '--pack-destination', work, '--silent'], join(bindings, 'node'))
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))
  assert.ok(tarball, 'npm pack made no tarball')
  const listing = run('tar', ['tzf', join(work, tarball)], work)
  for (const f of ['package/native/ov-memory.node', 'package/dist/node/src/index.js', 'package/dist/node/src/index.d.ts', 'package/dist/shared/surface.d.ts']) {
    assert.ok(listing.includes(f), `${f} missing from the tarball`)
  }
  const app = join(work, 'app')
  cpSync(join(repo, 'tests', 'original-examples'), app, { recursive: true })
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'original-check', private: true }))
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', join(work, tarball)], app)

  // example.js, unchanged.
  const js = run('node', ['example.js'], app)
  assert.match(js, /^Added: 1$/m)

  // example.ts, unchanged: type-checked with --strict, then run.
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, target: 'ES2022', module: 'commonjs', moduleResolution: 'node10', outDir: 'out',
      lib: ['ES2022'], types: ['node'], typeRoots: [join(bindings, 'node_modules', '@types')], skipLibCheck: false },
    files: ['example.ts'],
  }))
  run(join(bindings, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], app)
  const ts = run('node', [join('out', 'example.js')], app)
  assert.match(ts, /^Added: 1$/m)
  assert.match(ts, /status: 'HEALTHY'/)
  assert.match(ts, /circuit_breaker: 'CLOSED'/)

  // The README's Node quick start, as a user would paste it.
  const readme = readFileSync(join(repo, 'README.md'), 'utf8')
  const snippet = readme.split('<!-- quickstart-node -->')[1]?.match(/```js\n([\s\S]*?)```/)?.[1]
  assert.ok(snippet, 'README has no Node quick start')
  writeFileSync(join(app, 'quickstart.js'), snippet)
  const out = run('node', ['quickstart.js'], app)
  assert.match(out, /The user prefers green tea/)
  assert.match(out, /HEALTHY/)

  // The package's own README (shown on the registry): its snippets, in order, as one program.
  const pkgReadme = readFileSync(join(bindings, 'node', 'README.md'), 'utf8')
  const blocks = [...pkgReadme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1])
  assert.ok(blocks.length >= 2, 'the package README has its snippets')
  writeFileSync(join(app, 'package-readme.js'), blocks.join('\n') + "\nconsole.log('package README ran:', store.list({ namespace: 'alice' }).memories.map((m) => m.text).join(' | '))\n")
  assert.match(run('node', ['package-readme.js'], app), /package README ran: Alice lives in Bergen \| Alice is in a meeting/)
})
