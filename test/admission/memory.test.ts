import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const child = fileURLToPath(new URL('./spoof-flood.js', import.meta.url))
const MiB = 2 ** 20

test('1.2 million spoofed sources: tables stay at their caps, live heap < 32 MiB and RSS < 128 MiB over baseline', () => {
  const out = execFileSync(process.execPath, ['--expose-gc', child, '200000', '600000', '1200000'], { encoding: 'utf8', timeout: 120_000 })
  const r = JSON.parse(out) as { baseline: { rss: number, heapUsed: number }, rss: number[], heap: number[], counters: { sources: number, sourceEvictions: number } }
  assert.ok(r.counters.sources <= 65_536)
  assert.equal(r.counters.sources + r.counters.sourceEvictions, 1_200_000, 'every source was tracked or counted as evicted')
  // What admission keeps alive (two tables at their caps), at every checkpoint: flat, not growing with the flood.
  for (const h of r.heap) assert.ok(h - r.baseline.heapUsed < 32 * MiB, `live heap grew ${((h - r.baseline.heapUsed) / MiB).toFixed(1)} MiB`)
  // RSS also holds V8's free young-generation pages, hence the looser bound.
  for (const x of r.rss) assert.ok(x - r.baseline.rss < 128 * MiB, `RSS grew ${((x - r.baseline.rss) / MiB).toFixed(1)} MiB`)
})
