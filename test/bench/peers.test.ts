import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { request } from 'node:http'
import { createSocket } from 'node:dgram'
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { SyslogFrameCounter, countOtlpProtobufRecords, CountingPeers, startPeersProcess } from '../../bench/peers.js'
import { ExportLogsServiceRequest } from '../sinks/otlp/otlp-decode.js'

// A syslog message with anything a kernel line may hold in its text, digits and spaces included.
const message = fc.string({ minLength: 0, maxLength: 200 }).map((t) => `<6>1 2026-01-01T00:00:00.000Z h kernel - - - ${t.replace(/\n/g, ' ')}`)
const frames = fc.array(fc.record({ msg: message, octet: fc.boolean() }), { maxLength: 60 })

function frame (f: { msg: string, octet: boolean }): Buffer {
  const b = Buffer.from(f.msg)
  return f.octet ? Buffer.concat([Buffer.from(`${b.length} `), b]) : Buffer.concat([b, Buffer.from('\n')])
}

test('bench peers: the syslog frame counter counts octet-counted and LF frames exactly, split anywhere', () => {
  fc.assert(fc.property(frames, fc.array(fc.nat(), { maxLength: 20 }), (fs, cuts) => {
    const stream = Buffer.concat(fs.map(frame))
    const at = [...new Set(cuts.map((c) => stream.length === 0 ? 0 : c % stream.length))].sort((a, b) => a - b)
    const c = new SyslogFrameCounter()
    let prev = 0
    for (const x of [...at, stream.length]) { c.push(stream.subarray(prev, x)); prev = x }
    assert.equal(c.count, fs.length)
  }))
})

// ExportLogsServiceRequest objects for protobufjs, with fields around the counted ones that the
// walker must skip (resource attributes, scope name/version, schema URLs, record attributes).
const record = fc.record({
  timeUnixNano: fc.bigInt({ min: 0n, max: 2n ** 63n }).map(String),
  severityNumber: fc.integer({ min: 0, max: 24 }),
  body: fc.record({ stringValue: fc.string({ maxLength: 300 }) }),
  attributes: fc.array(fc.record({ key: fc.string({ maxLength: 10 }), value: fc.record({ intValue: fc.integer().map(String) }) }), { maxLength: 3 })
})
const scopeLogs = fc.record({
  scope: fc.record({ name: fc.string({ maxLength: 20 }), version: fc.string({ maxLength: 5 }) }),
  logRecords: fc.array(record, { maxLength: 20 }),
  schemaUrl: fc.string({ maxLength: 10 })
})
const resourceLogs = fc.record({
  resource: fc.record({ attributes: fc.array(fc.record({ key: fc.string({ maxLength: 10 }), value: fc.record({ stringValue: fc.string({ maxLength: 20 }) }) }), { maxLength: 4 }) }),
  scopeLogs: fc.array(scopeLogs, { maxLength: 3 }),
  schemaUrl: fc.string({ maxLength: 10 })
})
const exportRequest = fc.record({ resourceLogs: fc.array(resourceLogs, { maxLength: 4 }) })
const expected = (r: { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: unknown[] }> }> }): number =>
  r.resourceLogs.reduce((n, rl) => n + rl.scopeLogs.reduce((m, s) => m + s.logRecords.length, 0), 0)
const encode = (r: object): Buffer => Buffer.from(ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(r)).finish())

test('bench peers: the OTLP protobuf walker counts exactly the LogRecords of any export request', () => {
  fc.assert(fc.property(exportRequest, (r) => {
    assert.equal(countOtlpProtobufRecords(encode(r)), expected(r))
  }))
  assert.throws(() => countOtlpProtobufRecords(encode({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'x' } }] }] }] }).subarray(0, 5)))
})

async function post (port: number, body: Buffer, headers: Record<string, string>): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/logs', headers }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) })
    req.on('error', reject)
    req.end(body)
  })
}

async function waitUntil (cond: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + 5000
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

test('bench peers: the servers count what arrives over TCP, HTTP (protobuf, gzip, JSON) and UDP', async () => {
  const peers = new CountingPeers()
  const ports = await peers.start()
  try {
    // Two TCP connections, one closed before counting: both count.
    const data = Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame({ msg: `<6>1 - h k - - - m ${i}`, octet: i % 3 !== 0 })))
    for (let k = 0; k < 2; k++) {
      await new Promise<void>((resolve) => {
        const s = connect(ports.tcp, '127.0.0.1', () => { s.write(data.subarray(0, 777)); s.write(data.subarray(777)); if (k === 0) s.end(); resolve() })
      })
    }
    await waitUntil(() => peers.tcpCount() === 2000)

    const r = { resourceLogs: [{ scopeLogs: [{ logRecords: Array.from({ length: 7 }, (_, i) => ({ body: { stringValue: `m${i}` } })) }] }] }
    assert.equal(await post(ports.http, encode(r), { 'content-type': 'application/x-protobuf' }), 200)
    assert.equal(await post(ports.http, gzipSync(encode(r)), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }), 200)
    assert.equal(await post(ports.http, Buffer.from(JSON.stringify(r)), { 'content-type': 'application/json' }), 200)
    assert.equal(await post(ports.http, Buffer.alloc(0), { 'content-type': 'application/x-protobuf' }), 200)
    assert.equal(await post(ports.http, Buffer.from([0x0a, 0x05, 0x12]), { 'content-type': 'application/x-protobuf' }), 400)

    const u = createSocket('udp4')
    for (let i = 0; i < 10; i++) u.send(`<6>1 - h k - - - ${i}`, ports.udp, '127.0.0.1')
    await waitUntil(() => peers.counts.udp === 10)
    u.close()
    assert.deepEqual(peers.snapshot(), { tcp: 2000, tcpBytes: 2 * data.length, http: 21, httpRequests: 4, httpErrors: 1, udp: 10 })
  } finally {
    await peers.close()
  }
})

test('bench peers: the child process reports its ports and counts over IPC', async () => {
  const p = await startPeersProcess()
  try {
    await new Promise<void>((resolve) => {
      const s = connect(p.ports.tcp, '127.0.0.1', () => { s.end('5 <6>1\n3 <6>'); resolve() })
    })
    await waitUntil(async () => (await p.counts()).tcp === 2)
  } finally {
    await p.stop()
  }
})
