/**
 * Pipeline.reload() and a sink that leaves the config: its close runs beside the new config, and
 * its last counts (the records it drops at the close deadline) stay in the snapshot (issue 14, item 6).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { loadConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/types.js'
import { Pipeline } from '../../src/worker/pipeline.js'
import { RecordingServer } from '../sinks/delivery/http-server.js'
import { waitFor } from '../helpers/daemon.js'

async function config (value: Record<string, unknown>): Promise<Config> {
  return await loadConfig({ env: {}, source: { value: { version: 1, ...value }, dir: process.cwd(), name: '<test>' } })
}

const total = (s: { sent: number, dropped: Record<string, number> }): number => s.sent + Object.values(s.dropped).reduce((a, b) => a + b, 0)

test('a removed sink closes beside the new config and its final drops stay counted', async (t) => {
  const peer = await RecordingServer.start()
  peer.fallback = 'hang' // the peer takes the connection and never answers
  t.after(() => peer.stop())
  const withOtlp = await config({ sinks: { o: { type: 'otlp', url: `${peer.url}/v1/logs`, maxBatchRecords: 10 } }, rules: [{ id: 'all', to: ['o'] }] })
  const without = await config({ sinks: {}, rules: [] })
  const p = new Pipeline({ config: withOtlp, thread: 0, workerCount: 1, logger: pino({ level: 'silent' }) })
  await p.start()
  for (let i = 0; i < 50; i++) p.receive('::ffff:10.0.0.1', 6666, Buffer.from(`6,${i},${i * 1000},-;line ${i}\n`))
  await new Promise((resolve) => setTimeout(resolve, 300))
  const routed = p.snapshot().routed
  assert.ok(routed >= 50)
  const before = p.snapshot().sinks.o!
  assert.equal(total(before) + before.queueDepth > 0, true)

  // Three reloads in a row while the removed sink is stuck: none waits for its 5 s close.
  const t0 = performance.now()
  await p.reload(without)
  await p.reload(withOtlp)
  await p.reload(without)
  const took = performance.now() - t0
  assert.ok(took < 1500, `reloads took ${Math.round(took)} ms`)

  // Counters never go down: the closing instances are still counted.
  const mid = p.snapshot().sinks.o
  assert.ok(mid !== undefined, 'a closing sink stays in the snapshot')
  assert.ok(total(mid) >= total(before))
  await waitFor(() => (p.snapshot().sinks.o?.dropped.shutdown_deadline ?? 0) > 0 && p.snapshot().sinks.o!.queueDepth === 0, 10_000, 'the close deadline')
  const after = p.snapshot().sinks.o!
  assert.equal(total(after), routed, 'every record the removed sink got is sent or counted dropped')
  assert.ok(after.dropped.shutdown_deadline! > 0)
  const final = await p.shutdown(100)
  assert.equal(total(final.sinks.o!), routed, 'and stays counted after shutdown')
})
