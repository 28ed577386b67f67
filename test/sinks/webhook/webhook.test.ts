/**
 * The webhook sink in-process: nock for request shapes and status handling (one thread, so nock
 * sees the requests), a real local server for the conformance suite and the health probe.
 */
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import nock from 'nock'
import { createWebhookSink, type WebhookSinkOptions } from '../../../src/sinks/webhook/index.js'
import { sinkTypes } from '../../../src/sinks/registry.js'
import { RecordingServer } from '../delivery/http-server.js'
import { makeTestRecord, runSinkConformance, testContext } from '../conformance.js'

const BASE = 'http://hooks.test'
const FAST = { initialBackoffMs: 5, maxBackoffMs: 20, flushIntervalMs: 10 }

function hook (opts: Partial<WebhookSinkOptions> = {}): ReturnType<typeof createWebhookSink> {
  return createWebhookSink({ url: `${BASE}/hook`, ...FAST, ...opts }, testContext({ sinkId: 'hook' }))
}

const panic = makeTestRecord({
  level: 0,
  kind: 'incident',
  text: 'Kernel panic - not syncing: Fatal exception',
  incident: { type: 'panic', title: 'Kernel panic - not syncing: Fatal exception', signature: 'panic:do_exit', function: 'do_exit', frames: ['do_exit'] }
})

describe('webhook sink (nock)', () => {
  before(() => { nock.disableNetConnect(); nock.enableNetConnect('127.0.0.1') })
  afterEach(() => { nock.cleanAll() })
  after(() => { nock.enableNetConnect() })

  it('POSTs the generic body with the configured headers, batching records', async () => {
    let body: any
    const scope = nock(BASE, { reqheaders: { authorization: 'Bearer t0k', 'content-type': 'application/json' } })
      .post('/hook', (b) => { body = b; return true })
      .reply(200)
    const s = hook({ headers: { authorization: 'Bearer t0k' } })
    s.write(makeTestRecord({ text: 'one' }))
    s.write(makeTestRecord({ text: 'two' }))
    await s.close()
    scope.done()
    assert.equal(body.source, 'netconsd')
    assert.deepEqual(body.records.map((r: { text: string }) => r.text), ['one', 'two'])
    assert.equal(s.stats().sent, 2)
  })

  it('method PUT', async () => {
    const scope = nock(BASE).put('/hook').reply(204)
    const s = hook({ method: 'PUT' })
    s.write(makeTestRecord())
    await s.close()
    scope.done()
  })

  it('template: one request per record by default, placeholders filled', async () => {
    const bodies: unknown[] = []
    const scope = nock(BASE).post('/hook', (b) => { bodies.push(b); return true }).times(2).reply(200)
    const s = hook({ template: { msg: '{{host.name}}: {{summary}}', seq: '{{seq}}', labels: '{{host.labels}}' } })
    s.write(makeTestRecord({ text: 'a', seq: 1 }))
    s.write(makeTestRecord({ text: 'b', seq: 2 }))
    await s.close()
    scope.done()
    assert.deepEqual(bodies, [
      { msg: 'web-1: a', seq: 1, labels: { rack: 'r1' } },
      { msg: 'web-1: b', seq: 2, labels: { rack: 'r1' } }
    ])
  })

  it('pagerduty: one event per request, routing key from options', async () => {
    const bodies: any[] = []
    const scope = nock('https://events.pagerduty.com').post('/v2/enqueue', (b) => { bodies.push(b); return true }).times(3).reply(202, { status: 'success' })
    const s = createWebhookSink({ url: 'https://events.pagerduty.com/v2/enqueue', preset: 'pagerduty', pagerduty: { routingKey: 'KEY' }, ...FAST }, testContext())
    for (let i = 0; i < 3; i++) s.write(makeTestRecord({ level: 2, text: `crit ${i}` }))
    await s.close()
    scope.done()
    assert.equal(bodies.length, 3)
    assert.ok(bodies.every((b) => b.routing_key === 'KEY' && b.event_action === 'trigger' && typeof b.dedup_key === 'string'))
  })

  it('pagerduty without a routing key is a config error at creation', () => {
    assert.throws(() => createWebhookSink({ url: `${BASE}/x`, preset: 'pagerduty' }, testContext()), { code: 'NETCONSD_ERR_SINK_OPTIONS' })
  })

  it('a bad template is a config error at creation, naming every problem', () => {
    assert.throws(() => createWebhookSink({ url: `${BASE}/x`, template: { a: '{{nope}}', b: '{{also.nope}}' } }, testContext()),
      (err: { code?: string, errors?: string[] }) => err.code === 'NETCONSD_ERR_SINK_OPTIONS' && err.errors?.length === 2)
  })

  it('alertmanager: array body to /api/v2/alerts', async () => {
    let body: any
    const scope = nock(BASE).post('/api/v2/alerts', (b) => { body = b; return true }).reply(200)
    const s = createWebhookSink({ url: `${BASE}/api/v2/alerts`, preset: 'alertmanager', ...FAST }, testContext())
    s.write(panic)
    s.write(makeTestRecord({ level: 3 }))
    await s.close()
    scope.done()
    assert.ok(Array.isArray(body))
    assert.equal(body.length, 2)
    assert.equal(body[0].labels.alertname, 'KernelPanic')
  })

  it('429 and 503 are retried (Retry-After honoured), then delivered', async () => {
    const scope = nock(BASE)
      .post('/hook').reply(429, '', { 'Retry-After': '0' })
      .post('/hook').reply(503)
      .post('/hook').reply(200)
    const s = hook()
    s.write(makeTestRecord())
    await s.flush()
    scope.done()
    assert.equal(s.stats().sent, 1)
    assert.equal(s.stats().retried, 2)
    await s.close()
  })

  it('400 is not retried: dropped as rejected', async () => {
    const scope = nock(BASE).post('/hook').reply(400, 'invalid_payload')
    const s = hook()
    s.write(makeTestRecord())
    await s.flush()
    scope.done()
    assert.equal(s.stats().dropped.rejected, 1)
    assert.equal(s.stats().sent, 0)
    await s.close()
  })

  it('rate limit per host drops and counts the excess, never emergencies or panics', async () => {
    let records = 0
    const scope = nock(BASE).post('/hook', (b: { records: unknown[] }) => { records += b.records.length; return true }).reply(200).persist()
    const s = hook({ rateLimit: { key: 'host', perMinute: 2, burst: 2 } })
    for (let i = 0; i < 10; i++) s.write(makeTestRecord({ level: 4, text: `noise ${i}` }))
    s.write(panic)
    s.write(makeTestRecord({ level: 0, text: 'emerg line' }))
    await s.close()
    scope.persist(false)
    assert.equal(records, 4)
    assert.equal(s.stats().dropped.rate_limited, 8)
    assert.equal(s.stats().sent, 4)
  })

  it('is registered as type "webhook"', async () => {
    assert.equal(await sinkTypes.webhook!(), createWebhookSink)
  })
})

describe('webhook sink (real server)', () => {
  it('health(): connects without posting anything; not ok when the peer is down', async () => {
    const server = await RecordingServer.start()
    const s = createWebhookSink({ url: `${server.url}/hook`, ...FAST }, testContext())
    assert.deepEqual(await s.health(), { ok: true })
    assert.equal(server.requests.length, 0, 'a health check must not page anyone')
    await server.stop()
    const h = await s.health()
    assert.equal(h.ok, false)
    assert.match(h.message ?? '', /ECONNREFUSED|connect/)
    await s.close()
  })

  it('a dropped connection (network error) is retried', async () => {
    const server = await RecordingServer.start()
    server.script = ['destroy']
    const s = createWebhookSink({ url: `${server.url}/hook`, ...FAST }, testContext())
    try {
      s.write(makeTestRecord())
      await s.flush()
      assert.equal(server.requests.length, 1)
      assert.equal(s.stats().sent, 1)
      assert.equal(s.stats().retried, 1)
    } finally {
      await s.close()
      await server.stop()
    }
  })

  it('peer down at start, then up: queued alerts are delivered', async () => {
    const probe = await RecordingServer.start()
    const port = probe.port
    await probe.stop()
    const s = createWebhookSink({ url: `http://127.0.0.1:${port}/hook`, preset: 'slack', ...FAST }, testContext())
    s.write(panic)
    await new Promise((resolve) => setTimeout(resolve, 30))
    const server = await RecordingServer.start(port)
    try {
      await s.flush()
      assert.equal(server.requests.length, 1)
      assert.match(JSON.parse(server.requests[0]!.body.toString()).text, /Kernel panic/)
    } finally {
      await s.close()
      await server.stop()
    }
  })
})

describe('webhook sink conformance', () => {
  runSinkConformance('webhook', async () => {
    const server = await RecordingServer.start()
    return {
      sink: createWebhookSink({ url: `${server.url}/hook`, ...FAST }, testContext()),
      received: () => server.requests.reduce((n, r) => n + (JSON.parse(r.body.toString()) as { records: unknown[] }).records.length, 0),
      cleanup: async () => { await server.stop() }
    }
  })
})
