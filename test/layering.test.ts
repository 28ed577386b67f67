/**
 * The layering check: src/ imports follow the pipeline's direction and form no cycles.
 *
 *   ingest → worker → admission → ncrx → incidents / router → sinks
 *
 * An equivalent of dependency-cruiser without the dependency: it reads the TypeScript sources
 * (static `from '…'` and dynamic `import('…')` of relative paths; type-only imports count too,
 * because a type cycle is still a design cycle) and checks the rules below.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { repoRoot } from './helpers/paths.js'

const srcDir = join(repoRoot, 'src')

function walk (dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : []
  })
}

/** Module (path relative to src/, `.ts`) → the src/ modules it imports. */
function importGraph (): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  const re = /(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g
  for (const file of walk(srcDir)) {
    const deps: string[] = []
    for (const m of readFileSync(file, 'utf8').matchAll(re)) {
      deps.push(relative(srcDir, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'))
    }
    graph.set(relative(srcDir, file), deps)
  }
  return graph
}

/** Folders (first path component under src/) a folder must never import. */
const FORBIDDEN: Record<string, string[]> = {
  // Parsing code never touches sockets, threads, routing or output.
  ncrx: ['ingest', 'worker', 'admission', 'incidents', 'router', 'sinks', 'metrics', 'daemon.ts', 'cli.ts'],
  // ingest/batch.ts is the batch format that crosses the thread boundary, and the native receive
  // path runs inside the worker: importing ingest downstream is allowed, importing later stages upstream is not.
  admission: ['worker', 'incidents', 'router', 'sinks', 'daemon.ts', 'cli.ts'],
  // The router decides where a record goes, never how it is written or delivered.
  router: ['ingest', 'worker', 'sinks', 'daemon.ts', 'cli.ts'],
  incidents: ['ingest', 'worker', 'daemon.ts', 'cli.ts'],
  // Sinks are the end of the pipeline: nothing upstream of them.
  sinks: ['ingest', 'worker', 'admission', 'ncrx', 'router', 'daemon.ts', 'cli.ts'],
  worker: ['daemon.ts', 'cli.ts'],
  metrics: ['ingest', 'worker', 'daemon.ts', 'cli.ts']
}

test('src/ imports follow the pipeline direction', () => {
  const bad: string[] = []
  for (const [mod, deps] of importGraph()) {
    const forbidden = FORBIDDEN[mod.split('/')[0]!] ?? []
    for (const d of deps) if (forbidden.includes(d.split('/')[0]!)) bad.push(`${mod} → ${d}`)
  }
  assert.deepEqual(bad, [])
})

test('src/ has no import cycles', () => {
  const graph = importGraph()
  const cycles: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (m: string): void => {
    state.set(m, 'open')
    stack.push(m)
    for (const d of graph.get(m) ?? []) {
      if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].join(' → '))
      else if (state.get(d) === undefined && graph.has(d)) visit(d)
    }
    stack.pop()
    state.set(m, 'done')
  }
  for (const m of graph.keys()) if (state.get(m) === undefined) visit(m)
  assert.deepEqual(cycles, [])
})
