// npm pack the package, install the tarball into a fresh project, and run the
// original usage examples (JS, and TS type-checked with tsc --strict) and the README's
// Node quick start there.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const bindings = fileURLToPath(new URL('..', import.meta.url))
const repo = join(bindings, '..')
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

/** `npm pack`s the package in `dir` into `work`; returns the tarball's path and its file list. */
function pack(dir, work) {
  const before = new Set(readdirSync(work))
  run('npm', ['pack', '--pack-destination', work, '--silent'], dir)
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz') && !before.has(f))
  assert.ok(tarball, `npm pack made no tarball in ${dir}`)
  return { path: join(work, tarball), files: run('tar', ['tzf', join(work, tarball)], work).split('\n') }
}

test('the packed tarballs install and run the original usage examples and the README quick start', { skip: process.env.OV_MEMORY_TARGET === 'wasm' }, () => {
  const work = mkdtempSync(join(tmpdir(), 'ov-memory-pack-'))
  // The main package (JavaScript and types only) and the napi-rs per-platform package with the binary.
  const main = pack(join(bindings, 'node'), work)
  const platform = pack(join(bindings, 'node', 'npm', 'linux-x64-gnu'), work)
  for (const f of ['package/LICENSE', 'package/README.md', 'package/package.json', 'package/dist/node/src/index.js',
    'package/dist/node/src/index.d.ts', 'package/dist/shared/surface.d.ts', 'package/dist/shared/types.d.ts', 'package/dist/esm/index.mjs', 'package/dist/esm/index.d.mts']) {
    assert.ok(main.files.includes(f), `${f} missing from the main tarball`)
  }
  assert.ok(!main.files.some((f) => f.endsWith('.node')), 'the main tarball carries no binary')
  for (const f of ['package/LICENSE', 'package/README.md', 'package/ov-memory.linux-x64-gnu.node']) {
    assert.ok(platform.files.includes(f), `${f} missing from the platform tarball`)
  }
  const app = join(work, 'app')
  cpSync(join(repo, 'tests', 'original-examples'), app, { recursive: true })
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'original-check', private: true }))
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', platform.path, main.path], app)

  // require and import give the same classes, and only the public names.
  writeFileSync(join(app, 'both.mjs'), `
    import { createRequire } from 'node:module'
    import * as esm from 'ov-memory'
    const cjs = createRequire(import.meta.url)('ov-memory')
    console.log(esm.MemoryStore === cjs.MemoryStore ? 'same classes' : 'two copies')
    console.log(Object.keys(esm).sort().join(','))
    console.log(new esm.MemoryStore({ embeddingDim: 2 }).health().status)
  `)
  const [same, names, status] = run('node', ['both.mjs'], app).trim().split('\n')
  assert.equal(same, 'same classes')
  assert.equal(status, 'HEALTHY')
  for (const internal of ['bindNative', 'boundNative', 'loadAddon', 'platformTriple', 'SUPPORTED']) {
    assert.ok(!names.split(',').includes(internal), `${internal} is exported: ${names}`)
  }
  for (const name of ['MemoryStore', 'OVMemoryProduction', 'OvMemoryError', 'ERROR_CODES', 'estimateTokens']) {
    assert.ok(names.split(',').includes(name), `${name} is not exported: ${names}`)
  }
  // On a platform without a binary, loading names the platform and the ones that exist.
  assert.throws(() => run('node', ['-e', "Object.defineProperty(process, 'arch', { value: 'riscv64' }); require('ov-memory')"], app),
    (e) => /no binary is published for linux-riscv64-gnu; the packages exist for linux-x64-gnu/.test(e.stderr))

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

  // The ESM types (moduleResolution nodenext); a misspelt option is a type error.
  // The option and result types are the engine's own (generated): settings
  // the hand-kept types once lacked type-check, and results carry their
  // generated names.
  writeFileSync(join(app, 'esm.mts'), `import { MemoryStore, type Hit, type Namespaces, type StoreOptions } from 'ov-memory'
const options: StoreOptions = { embeddingDim: 2, hybridWeight: 0.5, recencyWeight: 0.25, breaker: { openMs: 10 }, vectorPrecision: 'i8' }
const s = new MemoryStore(options)
const namespaces: readonly string[] = ['a', 'b']
const scope: Namespaces = namespaces
const hits: Hit[] = s.retrieve(new Float32Array([1, 0]), { topK: 1, namespace: scope, hybridWeight: 0.4 })
console.log(s.size, hits.map((h) => h.score.P))
`)
  writeFileSync(join(app, 'typo.mts'), "import { MemoryStore } from 'ov-memory'\nnew MemoryStore({ embedingDim: 2 })\n")
  const tsc = (file) => execFileSync(join(bindings, 'node_modules', '.bin', 'tsc'), ['--strict', '--noEmit', '--module', 'nodenext',
    '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', join(bindings, 'node_modules', '@types'), file],
  { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  tsc('esm.mts')
  assert.throws(() => tsc('typo.mts'), (e) => /embedingDim/.test(e.stdout) && /TS2353|TS2561/.test(e.stdout))

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

test('the browser package installs and runs in Node: init() reads the .wasm from disk', { skip: process.env.OV_MEMORY_TARGET !== 'wasm' }, () => {
  const work = mkdtempSync(join(tmpdir(), 'ov-memory-web-pack-'))
  const web = pack(join(bindings, 'web'), work)
  for (const f of ['package/LICENSE', 'package/README.md', 'package/dist/web/src/index.js', 'package/dist/web/src/node.js',
    'package/dist/web/src/index.d.ts', 'package/dist/web/pkg/ov_memory_wasm_bg.wasm']) {
    assert.ok(web.files.includes(f), `${f} missing from the web tarball`)
  }
  const app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'web-check', private: true, type: 'module' }))
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', web.path], app)
  // The package README's snippet, as a user would paste it into an ES module.
  const pkgReadme = readFileSync(join(bindings, 'web', 'README.md'), 'utf8')
  const snippet = pkgReadme.match(/```js\n([\s\S]*?)```/)?.[1]
  assert.ok(snippet, 'the web package README has a snippet')
  writeFileSync(join(app, 'readme.mjs'), snippet)
  assert.match(run('node', ['readme.mjs'], app), /The user prefers green tea\nHEALTHY/)
  writeFileSync(join(app, 'names.mjs'), "import * as m from 'ov-memory-web'\nconsole.log(Object.keys(m).sort().join(','))\n")
  const names = run('node', ['names.mjs'], app).trim().split(',')
  for (const internal of ['bindNative', 'boundNative']) assert.ok(!names.includes(internal), `${internal} is exported`)
  assert.ok(names.includes('init') && names.includes('MemoryStore'), names.join(','))
})
