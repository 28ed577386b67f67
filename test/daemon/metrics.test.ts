/**
 * The daemon's own observability end to end: the Prometheus endpoint reflects what the workers
 * did (messages per format, malformed datagrams, admission drops, rule matches), and the health
 * endpoints answer.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Daemon } from '../../src/daemon.js'
import { loadConfig } from '../../src/config/load.js'
import { extendedRecord } from '../../src/blaster/messages.js'
import { sendDatagrams, collectModule } from '../helpers/daemon.js'

function metricValue (text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels === '' ? ' ' : `{${labels}}`}`) || (labels !== '' && l.startsWith(name + '{') && labels.split(',').every((kv) => l.includes(kv))))
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1))
}

test('metrics, healthz and readyz reflect the workers', async () => {
  const config = await loadConfig({
    env: process.env,
    source: {
      name: '<metrics test>',
      dir: process.cwd(),
      value: {
        version: 1,
        listen: { port: 0 },
        metrics: { listen: '127.0.0.1:0' },
        admission: { deny: ['127.0.6.2'] },
        modules: [collectModule],
        sinks: {},
        rules: [{ id: 'kernel-errors', match: { level: '<=err' }, drop: true }]
      }
    }
  })
  process.env.COLLECT_OUT = '/dev/null'
  const daemon = new Daemon({ config, logger: pino({ level: 'silent' }), receivePath: 'js', statsIntervalMs: 100 })
  await daemon.start()
  try {
    const base = `http://127.0.0.1:${daemon.metricsAddress!.port}`
    await sendDatagrams(daemon.port, [
      extendedRecord({ seq: 1, tsUsec: 1, level: 3, text: 'an error' }),
      extendedRecord({ seq: 2, tsUsec: 2, text: 'info' }),
      Buffer.from('6,2x,1,-;bad sequence number\n'),
      Buffer.from('[    1.000000] legacy\n')
    ], { from: '127.0.6.1' })
    await sendDatagrams(daemon.port, [extendedRecord({ seq: 1, tsUsec: 1, text: 'denied' })], { from: '127.0.6.2' })

    let text = ''
    const scrape = async (): Promise<string> => await (await fetch(`${base}/metrics`)).text()
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      text = await scrape()
      if (metricValue(text, 'netconsd_messages_total', 'format="legacy"') === 1 && metricValue(text, 'netconsd_datagrams_dropped_total', 'reason="denied"') === 1) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.equal(metricValue(text, 'netconsd_messages_total', 'format="extended"'), 2)
    assert.equal(metricValue(text, 'netconsd_messages_total', 'format="legacy"'), 1)
    assert.equal(metricValue(text, 'netconsd_datagrams_malformed_total', 'reason="bad_number"'), 1)
    assert.equal(metricValue(text, 'netconsd_datagrams_dropped_total', 'reason="denied"'), 1, 'denied source counted before parsing')
    assert.equal(metricValue(text, 'netconsd_rule_matches_total', 'rule="kernel-errors"'), 1)
    assert.ok(metricValue(text, 'netconsd_ncrx_hosts', 'worker=') >= 0)

    assert.equal((await fetch(`${base}/healthz`)).status, 200)
    const ready = await fetch(`${base}/readyz`)
    assert.equal(ready.status, 200, await ready.text())
  } finally {
    await daemon.stop()
  }
})

test('a sink removed at reload: its shutdown_deadline drops reach netconsd_sink_dropped_records_total, counters never go down (issue 14, item 6)', async () => {
  const { RecordingServer } = await import('../sinks/delivery/http-server.js')
  const { waitFor } = await import('../helpers/daemon.js')
  const peer = await RecordingServer.start()
  peer.fallback = 'hang'
  const value = (withSink: boolean): Record<string, unknown> => ({
    version: 1,
    listen: { port: 0 },
    workers: { count: 1 },
    metrics: { listen: '127.0.0.1:0' },
    sinks: withSink ? { o: { type: 'otlp', url: `${peer.url}/v1/logs`, maxBatchRecords: 10 } } : {},
    rules: withSink ? [{ id: 'all', to: ['o'] }] : []
  })
  const load = async (withSink: boolean): Promise<Awaited<ReturnType<typeof loadConfig>>> => await loadConfig({ env: process.env, source: { name: '<reload metrics>', dir: process.cwd(), value: value(withSink) } })
  const daemon = new Daemon({ config: await load(true), logger: pino({ level: 'silent' }), statsIntervalMs: 100, receivePath: 'js' })
  await daemon.start()
  try {
    const scrape = async (): Promise<string> => await (await fetch(`http://127.0.0.1:${daemon.metricsAddress!.port}/metrics`)).text()
    await sendDatagrams(daemon.port, Array.from({ length: 30 }, (_, i) => extendedRecord({ seq: i, tsUsec: i * 1000, text: `line ${i}` })))
    await waitFor(() => (daemon.snapshots()[0]?.snapshot?.routed ?? 0) >= 30, 10_000, 'records routed')
    const r = await daemon.reload(await load(false))
    assert.equal(r.ok, true)
    let text = ''
    const drops = (): number => metricValue(text, 'netconsd_sink_dropped_records_total', 'sink="o",reason="shutdown_deadline"')
    const start = Date.now()
    while (Date.now() - start < 12_000) {
      text = await scrape()
      if (drops() > 0) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    const routed = daemon.snapshots()[0]!.snapshot!.routed
    assert.equal(drops(), routed, `every record of the removed sink counted (${text.split('\n').filter((l) => l.includes('sink="o"')).join(' | ')})`)
  } finally {
    await daemon.stop()
    await peer.stop()
  }
})

test('native receive path: datagrams and bytes counted, build_info carries the package version', async (t) => {
  const { loadNative } = await import('../../src/ingest/native.js')
  if (loadNative() === null) { t.skip('native receive addon not built (node scripts/build-native.mjs)'); return }
  const { readFileSync } = await import('node:fs')
  const { repoRoot } = await import('../helpers/paths.js')
  const version = (JSON.parse(readFileSync(`${repoRoot}/package.json`, 'utf8')) as { version: string }).version
  const config = await loadConfig({
    env: process.env,
    source: { name: '<native metrics test>', dir: process.cwd(), value: { version: 1, listen: { port: 0 }, metrics: { listen: '127.0.0.1:0' }, sinks: {}, rules: [{ id: 'all', drop: true }] } }
  })
  const daemon = new Daemon({ config, logger: pino({ level: 'silent' }), receivePath: 'native', statsIntervalMs: 100 })
  await daemon.start()
  try {
    const payloads = [extendedRecord({ seq: 1, tsUsec: 1, text: 'one' }), extendedRecord({ seq: 2, tsUsec: 2, text: 'two' })]
    await sendDatagrams(daemon.port, payloads, { from: '127.0.6.1' })
    const base = `http://127.0.0.1:${daemon.metricsAddress!.port}`
    let text = ''
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      text = await (await fetch(`${base}/metrics`)).text()
      if (metricValue(text, 'netconsd_datagrams_received_total') === 2) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.equal(metricValue(text, 'netconsd_datagrams_received_total'), 2)
    assert.equal(metricValue(text, 'netconsd_received_bytes_total'), payloads.reduce((n, p) => n + p.length, 0))
    // The worker's reader-thread ring, emptied by now.
    assert.match(text, /^netconsd_worker_queue_bytes\{worker="0"\} 0$/m)
    assert.match(text, new RegExp(`netconsd_build_info\\{version="${version.replace(/\./g, '\\.')}"`))
  } finally {
    await daemon.stop()
  }
})
