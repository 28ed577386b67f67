import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const child = fileURLToPath(new URL('./spoof-flood.js', import.meta.url))
const MiB = 2 ** 20

// Live memory is what admission could leak: the V8 heap after a full GC plus off-heap memory
// (Buffers). RSS is not asserted: it also holds pages the allocator keeps after a GC, and on
// Node 24 that alone grows by ~190 MiB over this run while the heap stays flat.
test('1.2 million spoofed sources: tables stay at their caps, live memory < 32 MiB over baseline and flat after the caps fill', () => {
  const out = execFileSync(process.execPath, ['--expose-gc', child, '200000', '600000', '1200000'], { encoding: 'utf8', timeout: 120_000 })
  const r = JSON.parse(out) as { baseline: { heapUsed: number, external: number }, heap: number[], external: number[], counters: { sources: number, sourceEvictions: number } }
  assert.ok(r.counters.sources <= 65_536)
  assert.equal(r.counters.sources + r.counters.sourceEvictions, 1_200_000, 'every source was tracked or counted as evicted')
  const live = r.heap.map((h, k) => h + r.external[k]! - r.baseline.heapUsed - r.baseline.external)
  // What admission keeps alive (two tables at their caps), at every checkpoint.
  for (const x of live) assert.ok(x < 32 * MiB, `live memory grew ${(x / MiB).toFixed(1)} MiB`)
  // The tables are full by the first checkpoint (200k sources > 65,536): a million more must not grow them.
  const growth = live[live.length - 1]! - live[0]!
  assert.ok(growth < 8 * MiB, `live memory grew ${(growth / MiB).toFixed(1)} MiB after the tables filled`)
})
