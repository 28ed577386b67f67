import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { Metrics } from '../../src/metrics/metrics.js'
import { startMetricsServer, parseListen, isLoopback, readiness, type Readiness } from '../../src/metrics/server.js'

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, body: string }

function get (port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

test('parseListen: a bare port binds to loopback; a host must be written to bind elsewhere', () => {
  assert.deepEqual(parseListen('9514'), { host: '127.0.0.1', port: 9514, explicitHost: false })
  assert.deepEqual(parseListen(':9514'), { host: '127.0.0.1', port: 9514, explicitHost: false })
  assert.deepEqual(parseListen('0.0.0.0:9514'), { host: '0.0.0.0', port: 9514, explicitHost: true })
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0, explicitHost: true })
  for (const bad of ['::1:9514', 'host:port', '127.0.0.1:70000', 'example.com:9514', '']) {
    assert.throws(() => parseListen(bad), { code: 'NETCONSD_ERR_METRICS_LISTEN' }, bad)
  }
  assert.equal(isLoopback('127.0.0.1'), true)
  assert.equal(isLoopback('::1'), true)
  assert.equal(isLoopback('0.0.0.0'), false)
})

test('serves /metrics, /healthz and /readyz on a real port', async (t) => {
  const metrics = new Metrics({ processMetrics: false })
  metrics.update(0, { rules: { oops: 3 } })
  let readiness: Readiness = { ok: false, reasons: ['workers starting'] }
  const srv = await startMetricsServer({ listen: '127.0.0.1:0', metrics, ready: () => readiness })
  t.after(() => srv.close())
  const port = srv.address.port
  assert.ok(port > 0)

  const m = await get(port, '/metrics')
  assert.equal(m.status, 200)
  assert.match(String(m.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  assert.match(m.body, /^netconsd_rule_matches_total\{rule="oops"\} 3$/m)

  const h = await get(port, '/healthz')
  assert.equal(h.status, 200)
  assert.equal(h.body, 'ok\n')

  let r = await get(port, '/readyz')
  assert.equal(r.status, 503)
  assert.deepEqual(JSON.parse(r.body), { ok: false, reasons: ['workers starting'] })
  readiness = { ok: true, reasons: [] }
  r = await get(port, '/readyz')
  assert.equal(r.status, 200)

  const head = await get(port, '/metrics', 'HEAD')
  assert.equal(head.status, 200)
  assert.equal(head.body, '')
  assert.equal((await get(port, '/nope')).status, 404)
  assert.equal((await get(port, '/metrics', 'POST')).status, 405)
  assert.equal((await get(port, '/metrics?x=1')).status, 200)
})

test('a readiness check that throws or rejects reports not ready with the reason', async (t) => {
  const srv = await startMetricsServer({
    listen: '127.0.0.1:0',
    metrics: new Metrics({ processMetrics: false }),
    ready: async () => { throw new Error('sink table locked') }
  })
  t.after(() => srv.close())
  const r = await get(srv.address.port, '/readyz')
  assert.equal(r.status, 503)
  assert.match(JSON.parse(r.body).reasons[0], /sink table locked/)
})

test('binding a port in use fails with NETCONSD_ERR_METRICS_LISTEN; close is idempotent', async () => {
  const metrics = new Metrics({ processMetrics: false })
  const a = await startMetricsServer({ listen: '127.0.0.1:0', metrics, ready: () => ({ ok: true, reasons: [] }) })
  await assert.rejects(
    startMetricsServer({ listen: `127.0.0.1:${a.address.port}`, metrics, ready: () => ({ ok: true, reasons: [] }) }),
    { code: 'NETCONSD_ERR_METRICS_LISTEN' })
  await a.close()
  await a.close()
})

test('a bare port listens on loopback only', async (t) => {
  const srv = await startMetricsServer({ listen: '0', metrics: new Metrics({ processMetrics: false }), ready: () => ({ ok: true, reasons: [] }) })
  t.after(() => srv.close())
  assert.equal(srv.address.host, '127.0.0.1')
})

test('readiness: every reason at once; ready only when bound, all workers up, all sinks healthy', () => {
  assert.deepEqual(readiness({ socketsBound: true, workers: [{ thread: 0, ready: true }], sinks: { otlp: { ok: true } } }), { ok: true, reasons: [] })
  assert.deepEqual(readiness({
    socketsBound: false,
    workers: [{ thread: 0, ready: true }, { thread: 1, ready: false }],
    sinks: { otlp: { ok: false, message: 'ECONNREFUSED' }, file: { ok: true } },
    stopping: true
  }).reasons, ['shutting down', 'UDP socket not bound', 'worker 1 not running', 'sink otlp unhealthy: ECONNREFUSED'])
  assert.equal(readiness({ socketsBound: true, workers: [] }).ok, false)
})

/** One raw HTTP/1.1 request on its own connection; resolves with the status line's code, 0 for no answer within `ms`. */
function rawGet (port: number, path: string, ms: number, keepOpen?: Socket[]): Promise<number> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    let buf = ''
    let settled = false
    const done = (code: number): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (keepOpen !== undefined && code !== 0) keepOpen.push(s)
      else s.destroy()
      resolve(code)
    }
    const timer = setTimeout(() => done(0), ms)
    s.setEncoding('utf8')
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: probe\r\n${keepOpen !== undefined ? '' : 'Connection: close\r\n'}\r\n`))
    s.on('data', (d: string) => { buf += d; const m = /^HTTP\/1\.1 (\d{3})/.exec(buf); if (m !== null) done(Number(m[1])) })
    s.on('error', () => done(0))
    s.on('close', () => done(0))
  })
}

test('health answers while 100 slowloris connections hold the listener (issue 14, item 5)', async (t) => {
  const metrics = new Metrics({ processMetrics: false })
  const srv = await startMetricsServer({ listen: '127.0.0.1:0', metrics, ready: () => ({ ok: true, reasons: [] }) })
  const port = srv.address.port
  const slow: Socket[] = []
  const trickle = setInterval(() => { for (const s of slow) if (!s.destroyed) s.write('x') }, 200)
  t.after(async () => { clearInterval(trickle); for (const s of slow) s.destroy(); await srv.close() })
  // Each opens a request head and then sends one byte of a header every 200 ms, never finishing it.
  for (let i = 0; i < 100; i++) {
    const s = connect({ host: '127.0.0.1', port })
    s.on('error', () => {})
    s.write('GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: ')
    slow.push(s)
  }
  await new Promise((resolve) => setTimeout(resolve, 300))
  const codes: number[] = []
  for (let i = 0; i < 10; i++) codes.push(await rawGet(port, i % 2 === 0 ? '/healthz' : '/readyz', 1000))
  assert.deepEqual(codes, Array(10).fill(200))
  // The header deadline is enforced (2 s), not left to Node's 30 s connection check.
  await new Promise((resolve) => setTimeout(resolve, 2500))
  assert.equal(slow.filter((s) => !s.destroyed && !s.closed).length, 0, 'every stalled connection was closed')
})

test('health answers under many concurrent keep-alive clients (issue 14, item 5)', async (t) => {
  const metrics = new Metrics({ processMetrics: false })
  const srv = await startMetricsServer({ listen: '127.0.0.1:0', metrics, ready: () => ({ ok: true, reasons: [] }) })
  // Clients that keep their connection open after the answer, like an HTTP agent's pool.
  const held: Socket[] = []
  t.after(async () => { for (const s of held) s.destroy(); await srv.close() })
  const codes = await Promise.all(Array.from({ length: 500 }, async () => await rawGet(srv.address.port, '/healthz', 5000, held)))
  const answered = codes.filter((c) => c === 200).length
  assert.equal(answered, 500, `${answered} of 500 answered`)
  assert.equal(await rawGet(srv.address.port, '/readyz', 1000), 200)
})
