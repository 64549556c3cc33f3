// A tiny static server for the browser demo and the browser tests, bound to
// 127.0.0.1 only. It serves the repository's examples/, bindings/web/dist/,
// build/ and tests/data/locomo/ folders (nothing else), with the right type for .wasm.
//
//   node examples/browser/serve.mjs [port]   → prints the demo's URL (default: a free port)
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const allowed = ['examples', join('bindings', 'web', 'dist'), 'build', join('tests', 'data', 'locomo')]
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.tsv': 'text/tab-separated-values; charset=utf-8',
  '.css': 'text/css',
  '.f32': 'application/octet-stream',
}

/** Starts the server; resolves to { url, close }. Port 0 picks a free port. */
export function serve(port = 0) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^[/\\]+/, '')
    const file = join(root, path.endsWith(sep) || path === '' ? join(path, 'index.html') : path)
    if (!allowed.some((a) => file.startsWith(join(root, a) + sep)) || path.split(sep).includes('..')) {
      res.writeHead(404).end('not found')
      return
    }
    try {
      const body = await readFile(file.endsWith(sep) ? join(file, 'index.html') : file)
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(body)
    } catch {
      res.writeHead(404).end('not found')
    }
  })
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address()
      resolve({ url: `http://127.0.0.1:${p}/`, close: () => new Promise((r) => server.close(r)) })
    })
  })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // A free port unless one is given.
  const { url } = await serve(Number(process.argv[2] ?? 0))
  console.log(`OV-Memory browser demo: ${url}examples/browser/`)
  console.log('(serving on 127.0.0.1 only; Ctrl-C to stop)')
}
