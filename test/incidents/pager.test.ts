/**
 * Pager against a real local webhook receiver (HTTP server on port 0) through the real webhook
 * sink: one page per incident, suppression per host + signature, panics never held back, fleet
 * summaries, events, the worker-side forwarder, and the real oops capture end to end.
 */
import { rec } from '../helpers/records.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { pino } from 'pino'
import { Pager } from '../../src/incidents/pager.js'
import { createPager, createPagerSink, setPagerChannel } from '../../src/incidents/pager-sink.js'
import { replayCapture } from '../../src/incidents/replay.js'
import { createWebhookSink } from '../../src/sinks/webhook/index.js'
import type { Sink, SinkContext } from '../../src/sinks/types.js'
import type { NetconsRecord } from '../../src/types.js'
import { kernelFixturesDir } from '../helpers/paths.js'

interface Receiver { url: string, bodies: any[], server: Server, waitFor: (n: number) => Promise<void> }

async function receiver (): Promise<Receiver> {
  const bodies: any[] = []
  const waiters: Array<() => void> = []
  const server = createServer((req, res) => {
    let data = ''
    req.on('data', (c: Buffer) => { data += c.toString() })
    req.on('end', () => {
      bodies.push(JSON.parse(data))
      res.writeHead(202).end('{}')
      for (const w of waiters.splice(0)) w()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const waitFor = async (n: number): Promise<void> => {
    while (bodies.length < n) await new Promise<void>((resolve) => waiters.push(resolve))
  }
  return { url: `http://127.0.0.1:${port}/hook`, bodies, server, waitFor }
}

const ctx = (sinkId: string): SinkContext => ({ sinkId, thread: 0, workerCount: 1, logger: pino({ level: 'silent' }), configDir: '/' })

function webhook (url: string): Sink {
  return createWebhookSink({ url, preset: 'generic', batch: false, flushIntervalMs: 5 }, ctx('hook'))
}

let seq = 0
function incident (host: string, type: string, signature: string, extra: Record<string, unknown> = {}): NetconsRecord {
  const id = `${host}/${++seq}`
  return rec({
    kind: 'incident',
    src: `::ffff:10.0.0.${host.length}`,
    srcPort: 6665,
    host: { name: host, address: '::ffff:10.0.0.1', labels: {} },
    thread: 0,
    seq: 1,
    level: 0,
    tsUsec: 1,
    text: `${type} title`,
    raw: Buffer.from(`${type} title`),
    receivedAt: 1_700_000_000_000,
    incident: { type, title: `${type} title`, summary: `${type} in f`, signature, signatureId: 'abcd', function: 'f+0x1/0x2', frames: ['f+0x1/0x2'], id, ...extra }
  })
}

function clock (): { now: () => number, advance: (ms: number) => void } {
  let t = 1_000_000
  return { now: () => t, advance: (ms) => { t += ms } }
}

test('one page per incident: distinct incidents page, the same incident offered twice pages once', async (t) => {
  const r = await receiver()
  t.after(() => r.server.close())
  const sink = webhook(r.url)
  const pager = new Pager({ sinks: [sink] })
  const a = incident('web-1', 'oops', 'oops|a')
  assert.equal(pager.offer(a), 'page')
  assert.equal(pager.offer(a), 'duplicate')
  assert.equal(pager.offer(incident('web-1', 'warn', 'warn|b')), 'page')
  assert.equal(pager.offer(incident('web-2', 'oops', 'oops|a')), 'page')
  await sink.flush()
  await r.waitFor(3)
  await sink.close()
  assert.equal(r.bodies.length, 3)
  const recs = r.bodies.map((b) => b.records[0])
  assert.deepEqual(recs.map((x: any) => [x.host.name, x.incident.signature, x.attributes.page]),
    [['web-1', 'oops|a', 'incident'], ['web-1', 'warn|b', 'incident'], ['web-2', 'oops|a', 'incident']])
  assert.deepEqual(pager.stats(), { paged: 3, summaries: 0, suppressed: 0, folded: 0, duplicates: 1, ignored: 0, signatures: 2 })
})

test('suppression window per host + signature; the next page says how many were held back', async (t) => {
  const r = await receiver()
  t.after(() => r.server.close())
  const sink = webhook(r.url)
  const c = clock()
  const pager = new Pager({ sinks: [sink], now: c.now, config: { suppressWindowMs: 60_000 } })
  assert.equal(pager.offer(incident('db-1', 'warn', 'warn|x')), 'page')
  c.advance(10_000)
  assert.equal(pager.offer(incident('db-1', 'warn', 'warn|x')), 'suppressed')
  assert.equal(pager.offer(incident('db-1', 'warn', 'warn|x')), 'suppressed')
  assert.equal(pager.offer(incident('db-2', 'warn', 'warn|x')), 'page', 'another host is another page')
  c.advance(50_000)
  assert.equal(pager.offer(incident('db-1', 'warn', 'warn|x')), 'page', 'the window is over')
  await sink.flush()
  await r.waitFor(3)
  await sink.close()
  const recs = r.bodies.map((b) => b.records[0])
  assert.equal(recs.length, 3)
  assert.equal(recs[2].host.name, 'db-1')
  assert.equal(recs[2].attributes.pageSuppressed, '2')
  assert.equal(pager.stats().suppressed, 2)
})

test('panics are never suppressed or folded', async (t) => {
  const r = await receiver()
  t.after(() => r.server.close())
  const sink = webhook(r.url)
  const pager = new Pager({ sinks: [sink], config: { fleetThresholdHosts: 2 } })
  const decisions = [
    pager.offer(incident('a', 'panic', 'panic|Fatal exception|f')),
    pager.offer(incident('a', 'panic', 'panic|Fatal exception|f')),
    pager.offer(incident('b', 'panic', 'panic|Fatal exception|f')),
    pager.offer(incident('c', 'panic', 'panic|Fatal exception|f'))
  ]
  // The second host makes it fleet-wide: a summary goes out, and the panic still pages itself.
  assert.deepEqual(decisions, ['page', 'page', 'summary', 'page'])
  await sink.flush()
  await r.waitFor(5)
  pager.close()
  await sink.close()
  const kinds = r.bodies.map((b) => b.records[0].attributes.page)
  assert.deepEqual(kinds, ['incident', 'incident', 'fleet_summary', 'incident', 'incident'])
})

test('fleet summary: many hosts with one signature page once, later ones are folded, an update follows at the window end', async (t) => {
  const r = await receiver()
  t.after(() => r.server.close())
  const sink = webhook(r.url)
  const c = clock()
  const pager = new Pager({ sinks: [sink], now: c.now, config: { fleetThresholdHosts: 3, fleetWindowMs: 300 } })
  const d: string[] = []
  for (const h of ['n1', 'n2', 'n3', 'n4', 'n5']) { d.push(pager.offer(incident(h, 'oops', 'oops|bad_driver|xmit'))); c.advance(10) }
  d.push(pager.offer(incident('n6', 'warn', 'warn|other')))
  assert.deepEqual(d, ['page', 'page', 'summary', 'folded', 'folded', 'page'])
  await sink.flush()
  await r.waitFor(4)
  const summary = r.bodies[2].records[0]
  assert.equal(summary.host.name, 'fleet')
  assert.equal(summary.attributes.page, 'fleet_summary')
  assert.equal(summary.incident.fleet.hosts, 3)
  assert.deepEqual(summary.incident.fleet.sampleHosts, ['n1', 'n2', 'n3'])
  assert.match(summary.text, /^Fleet: oops in f on 3 hosts/)
  // The window (300 ms, real timer) ends with two more folded: one update.
  await r.waitFor(5)
  const update = r.bodies[4].records[0]
  assert.equal(update.incident.fleet.update, true)
  assert.equal(update.incident.fleet.folded, 2)
  assert.equal(update.incident.fleet.hosts, 5)
  pager.close()
  await sink.close()
  assert.equal(pager.stats().summaries, 2)
  assert.equal(pager.stats().folded, 2)
})

test('close() sends the fleet update still owed and is idempotent', async (t) => {
  const r = await receiver()
  t.after(() => r.server.close())
  const sink = webhook(r.url)
  const pager = new Pager({ sinks: [sink], config: { fleetThresholdHosts: 1, fleetWindowMs: 3_600_000 } })
  assert.equal(pager.offer(incident('x1', 'bug', 'bug|s')), 'summary')
  assert.equal(pager.offer(incident('x2', 'bug', 'bug|s')), 'folded')
  pager.close()
  pager.close()
  assert.equal(pager.offer(incident('x3', 'bug', 'bug|s')), 'ignored')
  await sink.flush()
  await r.waitFor(2)
  await sink.close()
  assert.equal(r.bodies.length, 2)
  assert.equal(r.bodies[1].records[0].incident.fleet.update, true)
})

test('events page per host and type, suppressed within the window; log records are ignored', () => {
  const written: NetconsRecord[] = []
  const sink: Sink = { write: (rec) => { written.push(rec) }, flush: async () => {}, close: async () => {} }
  const pager = new Pager({ sinks: [sink] })
  const ev = (host: string): NetconsRecord => ({ ...incident(host, 'x', 'x'), kind: 'event', incident: undefined as never, event: { type: 'silent_after_panic' } })
  const { incident: _drop, ...noIncident } = ev('h1')
  assert.equal(pager.offer(noIncident as NetconsRecord), 'page')
  assert.equal(pager.offer(noIncident as NetconsRecord), 'suppressed')
  const log = { ...noIncident, kind: 'log' } as NetconsRecord
  assert.equal(pager.offer(log), 'ignored')
  assert.equal(written.length, 1)
})

test('worker forwarder: posts incidents to the channel, counts what it cannot forward', async () => {
  const posted: Array<[string, NetconsRecord]> = []
  const s = await createPagerSink({ to: ['pd'] }, ctx('page'))
  setPagerChannel(null)
  s.write(incident('a', 'oops', 's'))
  setPagerChannel((id, rec) => posted.push([id, rec]))
  s.write(incident('a', 'oops', 's'))
  s.write({ ...incident('a', 'oops', 's'), kind: 'log' })
  await s.close()
  s.write(incident('a', 'oops', 's'))
  setPagerChannel(null)
  assert.equal(posted.length, 1)
  assert.equal(posted[0]![0], 'page')
  assert.deepEqual(s.stats!().dropped, { no_channel: 1, not_incident: 1, closed: 1 })
  assert.equal(s.stats!().sent, 1)
})

test('end to end: the 6.1 oops capture pages 4 times for 5 incidents (the second WARN of the same bug is suppressed)', async (t) => {
  const r = await receiver()
  t.after(() => r.server.close())
  const sink = webhook(r.url)
  const pager = createPager({ to: ['hook'], suppressWindowMs: 3_600_000 }, [sink])
  const decisions: string[] = []
  await replayCapture(join(kernelFixturesDir, '6.1-ext-oops', 'payloads.jsonl'), {
    onRecord: (rec) => { if (rec.kind === 'incident') decisions.push(`${rec.incident!.type}:${pager.offer(rec)}`) }
  })
  assert.deepEqual(decisions, ['warn:page', 'warn:suppressed', 'bug:page', 'oops:page', 'panic:page'])
  await sink.flush()
  await r.waitFor(4)
  pager.close()
  await sink.close()
  assert.deepEqual(r.bodies.map((b) => b.records[0].incident.type), ['warn', 'bug', 'oops', 'panic'])
  assert.equal(r.bodies[3].records[0].incident.title, 'Kernel panic - not syncing: sysrq triggered crash')
})
