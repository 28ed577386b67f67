/**
 * The OTLP sink against a real local HTTP server that decodes every request with the official
 * proto definitions (protobuf and JSON), plus the fault cases: 429/503 retried, 400 not, peer
 * down at start, peer dying mid-stream and coming back, a slow peer, the queue bound.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createOtlpSink, type OtlpSinkOptions } from '../../../src/sinks/otlp/index.js'
import type { DeliveryRunner } from '../../../src/sinks/delivery/runner.js'
import { sinkTypes } from '../../../src/sinks/registry.js'
import { RecordingServer } from '../delivery/http-server.js'
import { allLogs, decodeJson, decodeProtobuf, encodeResponse, type DecodedLog, type Value } from './otlp-decode.js'
import { makeTestRecord, runSinkConformance, testContext } from '../conformance.js'

const FAST_RETRY = { initialBackoffMs: 10, maxBackoffMs: 50, flushIntervalMs: 20 }

function sink (server: RecordingServer, opts: Partial<OtlpSinkOptions> = {}): DeliveryRunner {
  return createOtlpSink({ endpoint: server.url, ...FAST_RETRY, ...opts }, testContext({ sinkId: 'otlp-test' }))
}

function decode (server: RecordingServer, encoding: 'protobuf' | 'json' = 'protobuf'): ReturnType<typeof allLogs> {
  return server.requests
    .filter((r) => r.path === '/v1/logs' && r.body.length > 0)
    .flatMap((r) => allLogs(encoding === 'json' ? decodeJson(r.body) : decodeProtobuf(r.body)))
}

async function waitUntil (cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** The two hosts and four records every encoding test sends. */
function fixtureRecords (): ReturnType<typeof makeTestRecord>[] {
  const web = { name: 'web-1', address: '::ffff:192.0.2.10', labels: { rack: 'r1', role: 'web' } }
  const db = { name: 'db-2', address: '2001:db8::2', labels: {} }
  return [
    makeTestRecord({ host: web, src: web.address, seq: 100, level: 3, facility: 0, tsUsec: 2_000_000, receivedAt: 1_700_000_002_000, text: 'e1000e: eth0 NIC Link is Down', release: '6.12.0', dict: [['SUBSYSTEM', 'net'], ['DEVICE', 'n2']], seqReset: true }),
    makeTestRecord({ host: web, src: web.address, seq: 101, level: 0, tsUsec: 3_500_000, receivedAt: 1_700_000_003_600, text: 'Kernel panic - not syncing: boom', release: '6.12.0', lostBefore: 2, cont: true, kind: 'incident', incident: { type: 'panic', title: 'Kernel panic - not syncing: boom', signature: 'panic:boom', function: 'panic', frames: ['panic', 'do_exit'] } }),
    makeTestRecord({ host: db, src: db.address, format: 'legacy', seq: null, level: null, tsUsec: null, facility: 0, receivedAt: 1_700_000_004_000, text: 'legacy ü line', attributes: { team: 'storage' } }),
    makeTestRecord({ host: db, src: db.address, seq: 7, level: 7, facility: 1, tsUsec: 1_000, receivedAt: 1_700_000_004_001, text: 'debug', oos: true, incomplete: true, contStart: true })
  ]
}

function checkFixtureLogs (logs: ReturnType<typeof allLogs>): void {
  assert.equal(logs.length, 4)
  const byText = new Map(logs.map((l) => [l.body, l]))
  const l1 = byText.get('e1000e: eth0 NIC Link is Down')!
  const l2 = byText.get('Kernel panic - not syncing: boom')!
  const l3 = byText.get('legacy ü line')!
  const l4 = byText.get('debug')!

  // Resources: one per host (and release), grouped.
  assert.deepEqual(l1.resource, {
    'service.name': 'kernel', 'os.type': 'linux', 'deployment.environment': 'test', 'host.name': 'web-1',
    'host.ip': ['192.0.2.10'], 'os.version': '6.12.0', 'host.label.rack': 'r1', 'host.label.role': 'web'
  })
  assert.deepEqual(l3.resource, { 'service.name': 'kernel', 'os.type': 'linux', 'deployment.environment': 'test', 'host.name': 'db-2', 'host.ip': ['2001:db8::2'] })
  assert.equal(l1.scope, 'netconsd')

  const ns = (ms: number): bigint => BigInt(Math.round(ms * 1000)) * 1000n
  // Boot estimate for web-1 = 1_700_000_000_000 ms (first record), so record 2's time is boot + 3.5 s.
  assert.equal(l1.timeUnixNano, ns(1_700_000_002_000))
  assert.equal(l1.observedTimeUnixNano, ns(1_700_000_002_000))
  assert.equal(l2.timeUnixNano, ns(1_700_000_003_500))
  assert.equal(l2.observedTimeUnixNano, ns(1_700_000_003_600))
  assert.equal(l3.timeUnixNano, 0n, 'no kernel time: unset')
  assert.equal(l3.observedTimeUnixNano, ns(1_700_000_004_000))
  assert.equal(l4.timeUnixNano, ns(1_700_000_004_001), 'first timed record of db-2: its arrival')

  assert.equal(l1.severityNumber, 17); assert.equal(l1.severityText, 'err')
  assert.equal(l2.severityNumber, 21); assert.equal(l2.severityText, 'emerg')
  assert.equal(l3.severityNumber, 0); assert.equal(l3.severityText, '')
  assert.equal(l4.severityNumber, 5); assert.equal(l4.severityText, 'debug')

  const attrs = (l: DecodedLog): Record<string, Value> => l.attributes
  assert.deepEqual(attrs(l1), {
    'syslog.facility': 0, 'syslog.facility.name': 'kern', 'syslog.severity': 3, 'netconsole.format': 'extended',
    'netconsole.seq': 100, 'netconsole.ts_usec': 2_000_000, 'netconsole.seq_reset': true,
    'netconsole.dict.SUBSYSTEM': 'net', 'netconsole.dict.DEVICE': 'n2'
  })
  assert.equal(l2.eventName, 'netconsd.incident')
  assert.equal(attrs(l2)['netconsole.lost_before'], 2)
  assert.equal(attrs(l2)['netconsole.cont'], true)
  assert.equal(attrs(l2)['netconsd.incident.type'], 'panic')
  assert.deepEqual(attrs(l2)['netconsd.incident.frames'], ['panic', 'do_exit'])
  assert.deepEqual(attrs(l3), { 'syslog.facility': 0, 'syslog.facility.name': 'kern', 'netconsole.format': 'legacy', team: 'storage' })
  assert.equal(l3.eventName, '')
  assert.deepEqual(attrs(l4), {
    'syslog.facility': 1, 'syslog.facility.name': 'user', 'syslog.severity': 7, 'netconsole.format': 'extended',
    'netconsole.seq': 7, 'netconsole.ts_usec': 1000, 'netconsole.cont_start': true, 'netconsole.oos': true, 'netconsole.incomplete': true
  })
  for (const l of logs) assert.equal(l.droppedAttributesCount, 0)
}

describe('OTLP sink against a real server', () => {
  let server: RecordingServer
  before(async () => { server = await RecordingServer.start() })
  after(async () => { await server.stop() })

  for (const encoding of ['protobuf', 'json'] as const) {
    it(`${encoding}: every field decodes with the official proto definitions`, async () => {
      server.requests.length = 0
      const s = sink(server, { encoding, headers: { authorization: 'Bearer s3cret' }, resource: { 'deployment.environment': 'test' } })
      for (const r of fixtureRecords()) s.write(r)
      await s.close()
      assert.equal(server.requests.length, 1, 'one batch')
      const req = server.requests[0]!
      assert.equal(req.method, 'POST')
      assert.equal(req.path, '/v1/logs')
      assert.equal(req.headers['content-type'], encoding === 'json' ? 'application/json' : 'application/x-protobuf')
      assert.equal(req.headers['content-encoding'], 'gzip')
      assert.equal(req.headers.authorization, 'Bearer s3cret')
      assert.match(String(req.headers['user-agent']), /^netconsd\//)
      const rls = encoding === 'json' ? decodeJson(req.body) : decodeProtobuf(req.body)
      assert.equal(rls.length, 2, 'one ResourceLogs per host')
      checkFixtureLogs(allLogs(rls))
      if (encoding === 'json') {
        // OTLP/JSON: 64-bit integers as decimal strings.
        const raw = JSON.parse(req.body.toString()) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ timeUnixNano: unknown }> }> }> }
        assert.equal(typeof raw.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!.timeUnixNano, 'string')
      }
    })
  }

  it('compression: none sends the body as is; url is used verbatim', async () => {
    server.requests.length = 0
    const s = createOtlpSink({ url: `${server.url}/custom/path`, compression: 'none', ...FAST_RETRY }, testContext())
    s.write(makeTestRecord({ text: 'plain' }))
    await s.close()
    const req = server.requests[0]!
    assert.equal(req.path, '/custom/path')
    assert.equal(req.headers['content-encoding'], undefined)
    assert.equal(allLogs(decodeProtobuf(req.rawBody))[0]!.body, 'plain')
  })

  it('429 with Retry-After is retried after the asked delay', async () => {
    server.requests.length = 0
    server.script = [{ status: 429, headers: { 'retry-after': '1' } }]
    const s = sink(server)
    s.write(makeTestRecord({ text: 'limited' }))
    const t0 = Date.now()
    await s.flush()
    const elapsed = Date.now() - t0
    assert.equal(server.requests.length, 2)
    assert.ok(elapsed >= 950, `waited ${elapsed} ms`)
    assert.equal(s.stats().sent, 1)
    assert.equal(s.stats().retried, 1)
    await s.close()
  })

  for (const status of [502, 503, 504]) {
    it(`${status} is retried with backoff until it succeeds`, async () => {
      server.requests.length = 0
      server.script = [{ status }, { status }]
      const s = sink(server)
      s.write(makeTestRecord({ text: 'x' }))
      await s.flush()
      assert.equal(server.requests.length, 3)
      assert.equal(s.stats().sent, 1)
      assert.equal(s.stats().retried, 2)
      await s.close()
    })
  }

  for (const status of [400, 401, 413, 500]) {
    it(`${status} is not retried: dropped as rejected`, async () => {
      server.requests.length = 0
      server.script = [{ status, body: 'bad payload' }]
      const s = sink(server)
      s.write(makeTestRecord())
      s.write(makeTestRecord())
      await s.flush()
      assert.equal(server.requests.length, 1)
      assert.equal(s.stats().dropped.rejected, 2)
      assert.equal(s.stats().sent, 0)
      assert.match(s.stats().lastError ?? '', new RegExp(String(status)))
      await s.close()
    })
  }

  it('a partial success counts the rejected records', async () => {
    server.requests.length = 0
    server.script = [{ status: 200, headers: { 'content-type': 'application/x-protobuf' }, body: encodeResponse(2, 'too old') }]
    const s = sink(server)
    for (let i = 0; i < 5; i++) s.write(makeTestRecord())
    await s.flush()
    assert.equal(s.stats().sent, 3)
    assert.equal(s.stats().dropped.rejected, 2)
    await s.close()
  })

  it('health(): empty export request is accepted → ok; 401 → not ok', async () => {
    server.requests.length = 0
    const s = sink(server)
    assert.deepEqual(await s.health(), { ok: true })
    assert.equal(server.requests[0]!.body.length, 0)
    server.script = [{ status: 401 }]
    const h = await s.health()
    assert.equal(h.ok, false)
    assert.match(h.message ?? '', /401/)
    await s.close()
  })

  it('is registered as type "otlp"', async () => {
    const factory = await sinkTypes.otlp!()
    assert.equal(factory, createOtlpSink)
  })

  it('bad TLS file → NETCONSD_ERR_SINK_OPTIONS at creation', () => {
    assert.throws(() => createOtlpSink({ url: 'https://127.0.0.1:1/v1/logs', tls: { caFile: 'does/not/exist.pem' } }, testContext()),
      (err: { code?: string, path?: string }) => err.code === 'NETCONSD_ERR_SINK_OPTIONS' && err.path === 'sinks.test.tls.caFile')
  })

  it('neither url nor endpoint → NETCONSD_ERR_SINK_OPTIONS', () => {
    assert.throws(() => createOtlpSink({}, testContext()), { code: 'NETCONSD_ERR_SINK_OPTIONS' })
  })
})

describe('OTLP sink faults', () => {
  it('peer down at start: records wait in the queue and are delivered when it comes up', async () => {
    const probe = await RecordingServer.start()
    const port = probe.port
    await probe.stop()
    const s = createOtlpSink({ endpoint: `http://127.0.0.1:${port}`, ...FAST_RETRY }, testContext())
    assert.equal((await s.health()).ok, false)
    for (let i = 0; i < 20; i++) s.write(makeTestRecord({ seq: i }))
    await waitUntil(() => s.stats().retried >= 20) // at least one failed attempt
    const server = await RecordingServer.start(port)
    try {
      await s.flush()
      assert.deepEqual(decode(server).map((l) => l.attributes['netconsole.seq']), Array.from({ length: 20 }, (_, i) => i))
      assert.equal(s.stats().sent, 20)
      assert.equal(Object.values(s.stats().dropped).reduce((a, b) => a + b, 0), 0)
    } finally {
      await s.close()
      await server.stop()
    }
  })

  it('peer dies mid-stream and comes back: nothing lost within the queue bound, drops counted beyond it', async () => {
    const server = await RecordingServer.start()
    const port = server.port
    const s = createOtlpSink({ endpoint: server.url, ...FAST_RETRY, maxQueueRecords: 50, maxBatchRecords: 10 }, testContext())
    let seq = 0
    for (; seq < 30; seq++) s.write(makeTestRecord({ seq }))
    await s.flush()
    assert.equal(decode(server).length, 30)
    await server.stop()
    // Down: 80 more records, the queue holds 50, 30 are dropped (queue_full).
    for (; seq < 110; seq++) s.write(makeTestRecord({ seq }))
    await waitUntil(() => s.stats().retried > 0)
    assert.equal(s.stats().dropped.queue_full, 30)
    assert.equal(s.stats().queueDepth, 50)
    const again = await RecordingServer.start(port)
    try {
      await s.flush()
      const seqs = decode(again).map((l) => l.attributes['netconsole.seq'] as number)
      assert.deepEqual(seqs, Array.from({ length: 50 }, (_, i) => 30 + i), 'the first 50 after the outage, in order')
      const st = s.stats()
      assert.equal(st.sent, 80)
      assert.equal(st.sent + st.dropped.queue_full!, 110)
    } finally {
      await s.close()
      await again.stop()
    }
  })

  it('slow peer: attempts past requestTimeoutMs are aborted and retried; other work is not blocked', async () => {
    const server = await RecordingServer.start()
    server.script = ['hang', 'hang']
    const s = createOtlpSink({ endpoint: server.url, ...FAST_RETRY, requestTimeoutMs: 100 }, testContext())
    try {
      s.write(makeTestRecord({ text: 'slow' }))
      const t0 = Date.now()
      // write() stays instant while the peer hangs.
      await new Promise((resolve) => setTimeout(resolve, 50))
      const w0 = process.hrtime.bigint()
      for (let i = 0; i < 1000; i++) s.write(makeTestRecord())
      assert.ok(process.hrtime.bigint() - w0 < 50_000_000n, 'writes do not wait for the peer')
      await s.flush()
      assert.ok(Date.now() - t0 >= 200)
      assert.equal(s.stats().sent, 1001)
      assert.equal(s.stats().latencyMs.count >= 3, true)
    } finally {
      await s.close()
      await server.stop()
    }
  })

  it('close() with a dead peer returns by the deadline and counts shutdown_deadline', async () => {
    const probe = await RecordingServer.start()
    const port = probe.port
    await probe.stop()
    const s = createOtlpSink({ endpoint: `http://127.0.0.1:${port}`, ...FAST_RETRY }, testContext())
    for (let i = 0; i < 5; i++) s.write(makeTestRecord())
    const t0 = Date.now()
    await s.close(200)
    const took = Date.now() - t0
    assert.ok(took >= 190 && took < 1000, `close took ${took} ms`)
    assert.equal(s.stats().dropped.shutdown_deadline, 5)
  })
})

describe('OTLP sink conformance', () => {
  runSinkConformance('otlp', async () => {
    const server = await RecordingServer.start()
    return {
      sink: createOtlpSink({ endpoint: server.url, ...FAST_RETRY }, testContext()),
      received: () => decode(server).length,
      cleanup: async () => { await server.stop() }
    }
  })
})
