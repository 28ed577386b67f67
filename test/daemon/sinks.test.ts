/**
 * From a real UDP packet to the real peer, through worker threads: a kernel oops capture goes to
 * an OTLP/HTTP receiver (decoded with the official protos) and its crash incidents are paged once
 * each through a webhook, via the main-thread pager and the shipped rule pack.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Daemon } from '../../src/daemon.js'
import { loadConfig } from '../../src/config/load.js'
import { repoRoot } from '../helpers/paths.js'
import { sendDatagrams, waitFor, fixturePayloads } from '../helpers/daemon.js'
import { RecordingServer } from '../sinks/delivery/http-server.js'
import { decodeProtobuf, allLogs } from '../sinks/otlp/otlp-decode.js'

test('oops capture: every record reaches OTLP, each crash incident pages once', async () => {
  const otlp = await RecordingServer.start()
  const hook = await RecordingServer.start()
  const config = await loadConfig({
    env: process.env,
    source: {
      name: '<sinks test>',
      dir: repoRoot,
      value: {
        version: 1,
        listen: { port: 0 },
        include: ['routes/kernel-incidents.json5'],
        hosts: { inventory: { '127.0.7.1': { name: 'web-01', labels: { rack: 'r12' } } } },
        sinks: {
          otlp: { type: 'otlp', url: `http://127.0.0.1:${otlp.port}/v1/logs`, encoding: 'protobuf', flushIntervalMs: 50 },
          hook: { type: 'webhook', url: `http://127.0.0.1:${hook.port}/hook`, preset: 'generic', flushIntervalMs: 20 },
          page: { type: 'pager', to: ['hook'] }
        },
        rules: [{ id: 'everything', to: ['otlp'] }]
      }
    }
  })
  const daemon = new Daemon({ config, logger: pino({ level: 'silent' }), receivePath: 'js' })
  await daemon.start()
  try {
    const payloads = fixturePayloads('6.1-ext-oops')
    await sendDatagrams(daemon.port, payloads, { from: '127.0.7.1' })
    const seqs = new Set(payloads.map((p) => Number(p.toString('latin1').split(',')[1])))
    const logs = (): ReturnType<typeof allLogs> => otlp.requests.flatMap((r) => allLogs(decodeProtobuf(r.body)))
    const logRecords = (): ReturnType<typeof allLogs> => logs().filter((l) => l.eventName === '')
    await waitFor(() => logRecords().length >= seqs.size, 15_000, `${seqs.size} OTLP log records`)
    await daemon.stop()

    const got = logRecords()
    assert.equal(got.length, seqs.size, 'each kernel record exported once')
    assert.ok(got.every((l) => l.resource['host.name'] === 'web-01'), 'resource carries the inventory name')
    assert.ok(got.every((l) => l.resource['os.type'] === 'linux'))
    const panicLine = got.find((l) => typeof l.body === 'string' && l.body.startsWith('Kernel panic - not syncing'))
    assert.ok(panicLine !== undefined)
    assert.equal(panicLine.severityNumber, 21, 'emerg maps to FATAL (21)')
    const incidentsInOtlp = logs().filter((l) => l.eventName === 'netconsd.incident').map((l) => l.attributes['netconsd.incident.type'])
    assert.deepEqual(incidentsInOtlp, ['warn', 'warn', 'bug', 'oops', 'panic'], 'every incident also reaches OTLP')

    const paged = hook.requests.flatMap((r) => (JSON.parse(r.body.toString()) as { records: Array<{ kind: string, incident?: { type: string }, host: { name: string } }> }).records)
    assert.deepEqual(paged.map((p) => p.incident?.type), ['bug', 'oops', 'panic'], 'one page per crash incident, WARNs not paged by the pack')
    assert.ok(paged.every((p) => p.kind === 'incident' && p.host.name === 'web-01'))
  } finally {
    await daemon.stop()
    await otlp.stop()
    await hook.stop()
  }
})
