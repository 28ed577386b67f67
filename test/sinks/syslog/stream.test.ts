/**
 * TCP transport faults against a local server on loopback (deterministic; the same scenarios run
 * against a real rsyslogd in rsyslog.test.ts): peer down at start, peer dies mid-stream and comes
 * back, queue bound, slow peer.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { pino } from 'pino'
import { createSyslogSink, type SyslogSink } from '../../../src/sinks/syslog/index.js'
import { SyslogEncoder } from '../../../src/sinks/syslog/encode.js'
import { resolveSyslogOptions } from '../../../src/sinks/syslog/options.js'
import { StreamTransport } from '../../../src/sinks/syslog/stream.js'
import { makeTestRecord, testContext, runSinkConformance } from '../conformance.js'
import { freeTcpPort } from '../../helpers/rsyslog.js'

/** A syslog receiver that parses octet-counted frames. */
class Receiver {
  server: Server | null = null
  sockets = new Set<Socket>()
  messages: string[] = []
  connections = 0
  readonly #killer = async (): Promise<void> => { await this.kill() }
  constructor (readonly port: number) {}

  async start (opts: { paused?: boolean } = {}): Promise<void> {
    if (!open.some((o) => o.close === this.#killer)) open.push({ close: this.#killer })
    const srv = createServer((sock) => {
      this.connections++
      this.sockets.add(sock)
      sock.on('close', () => this.sockets.delete(sock))
      sock.on('error', () => {})
      if (opts.paused === true) { sock.pause(); return }
      let buf = Buffer.alloc(0)
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        for (;;) {
          const sp = buf.indexOf(0x20)
          if (sp < 0) break
          const len = Number(buf.subarray(0, sp).toString())
          assert.ok(Number.isInteger(len) && len > 0, `MSG-LEN ${buf.subarray(0, sp).toString()}`)
          if (buf.length < sp + 1 + len) break
          this.messages.push(buf.subarray(sp + 1, sp + 1 + len).toString())
          buf = buf.subarray(sp + 1 + len)
        }
      })
    })
    srv.listen(this.port, '127.0.0.1')
    await once(srv, 'listening')
    this.server = srv
  }

  /** The receiver dies: every connection reset, the port closed. */
  async kill (): Promise<void> {
    for (const s of this.sockets) s.resetAndDestroy()
    const srv = this.server
    this.server = null
    if (srv !== null) await new Promise<void>((resolve) => srv.close(() => { resolve() }))
  }

  /** The count once nothing has arrived for 50 ms: what the sink flushed is in flight on loopback for a moment. */
  async settled (): Promise<number> {
    let last = -1
    while (last !== this.messages.length) {
      last = this.messages.length
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return last
  }

  seqs (): number[] {
    return this.messages.map((m) => Number(/ seq="(\d+)"/.exec(m)?.[1])).sort((a, b) => a - b)
  }
}

/** Closed after each test even when it fails, so a failing test cannot hang the run. */
const open: Array<{ close: () => Promise<unknown> }> = []
afterEach(async () => {
  for (const o of open.splice(0)) await o.close().catch(() => {})
})

async function waitUntil (cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

function tcpSink (port: number, extra: Record<string, unknown> = {}): SyslogSink {
  const sink = createSyslogSink({
    host: '127.0.0.1', port, protocol: 'tcp', reconnectBackoffMs: 20, reconnectBackoffMaxMs: 100,
    initialBackoffMs: 20, maxBackoffMs: 100, flushIntervalMs: 5, connectTimeoutMs: 1000, ...extra
  } as never, testContext()) as SyslogSink
  open.push({ close: async () => { await sink.close(100) } })
  return sink
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i)

describe('syslog over TCP: faults', () => {
  it('peer down at start: send is retryable with a backoff; nothing dials during the backoff', async () => {
    const port = await freeTcpPort()
    const opts = resolveSyslogOptions({ host: '127.0.0.1', port, protocol: 'tcp', reconnectBackoffMs: 60_000, reconnectBackoffMaxMs: 120_000 }, 's', '/')
    const t = new StreamTransport({ ...opts, protocol: 'tcp', writeTimeoutMs: 1000 }, new SyslogEncoder(opts), pino({ level: 'silent' }))
    open.push(t)
    const r1 = await t.send([makeTestRecord()])
    assert.equal(r1.status, 'retryable')
    assert.equal((r1 as unknown as { error: { code: string } }).error.code, 'NETCONSD_ERR_SINK_SEND')
    assert.equal((r1 as unknown as { error: { errno: string } }).error.errno, 'ECONNREFUSED')
    assert.ok((r1 as { retryAfterMs: number }).retryAfterMs >= 30_000, 'equal jitter: at least half the backoff')
    const rx = new Receiver(port)
    await rx.start()
    const r2 = await t.send([makeTestRecord()])
    assert.equal(r2.status, 'retryable', 'still backing off')
    assert.equal(rx.connections, 0)
    assert.equal(t.connectionStats().connectFailures, 1)
    // health() ignores the backoff: it is the operator asking "can you connect now?".
    assert.deepEqual(await t.health(), { ok: true })
    assert.equal((await t.send([makeTestRecord()])).status, 'ok')
    await t.close()
    await rx.kill()
  })

  it('peer down at start, then up: every queued record arrives', async () => {
    const port = await freeTcpPort()
    const sink = tcpSink(port)
    for (const i of range(0, 50)) sink.write(makeTestRecord({ seq: i }))
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.ok(sink.stats().retried > 0)
    const rx = new Receiver(port)
    await rx.start()
    await sink.flush()
    // flush() means "handed to the kernel"; the receiver reads it a moment later.
    await waitUntil(() => rx.messages.length >= 50)
    assert.deepEqual(rx.seqs(), range(0, 50))
    assert.equal(sink.stats().sent, 50)
    await sink.close()
    await rx.kill()
  })

  it('peer dies mid-stream and comes back: nothing lost within the queue bound', async () => {
    const port = await freeTcpPort()
    const rx = new Receiver(port)
    await rx.start()
    const sink = tcpSink(port)
    for (const i of range(0, 100)) sink.write(makeTestRecord({ seq: i }))
    await sink.flush()
    await waitUntil(() => rx.messages.length === 100)
    await rx.kill()
    // The sink notices the reset (FIN/RST) before the next batch: these are queued and retried.
    await waitUntil(() => sink.stats().connection!.connected === false)
    for (const i of range(100, 300)) sink.write(makeTestRecord({ seq: i }))
    await new Promise((resolve) => setTimeout(resolve, 150))
    assert.equal(sink.stats().sent, 100)
    assert.ok(sink.stats().queueDepth > 0)
    await rx.start()
    await sink.flush()
    await waitUntil(() => new Set(rx.seqs()).size >= 300)
    assert.deepEqual([...new Set(rx.seqs())], range(0, 300))
    const st = sink.stats()
    assert.equal(st.sent, 300)
    assert.deepEqual(Object.values(st.dropped).reduce((a, b) => a + b, 0), 0)
    assert.equal(st.connection!.connects, 2)
    await sink.close()
    await rx.kill()
  })

  it('beyond the queue bound records are dropped and counted (queue_full), the rest delivered', async () => {
    const port = await freeTcpPort()
    const sink = tcpSink(port, { maxQueueRecords: 100, maxBatchRecords: 50 })
    for (const i of range(0, 250)) sink.write(makeTestRecord({ seq: i }))
    assert.equal(sink.stats().dropped.queue_full, 150)
    const rx = new Receiver(port)
    await rx.start()
    await sink.flush()
    await waitUntil(() => rx.messages.length >= 100)
    assert.deepEqual(rx.seqs(), range(0, 100))
    assert.equal(sink.stats().sent + sink.stats().dropped.queue_full!, 250)
    await sink.close()
    await rx.kill()
  })

  it('slow peer (not reading): write() never blocks, the attempt times out, records wait in the bounded queue', async () => {
    const port = await freeTcpPort()
    const rx = new Receiver(port)
    await rx.start({ paused: true })
    const sink = tcpSink(port, { maxMessageBytes: 65536, maxQueueRecords: 400, maxQueueBytes: 1024 * 1024 * 1024, maxBatchRecords: 50, requestTimeoutMs: 300 })
    const big = 'z'.repeat(60_000)
    // write() is synchronous and returns nothing to wait on: all 1000 calls are done, and the
    // queue bound applied, before the peer has been given a single byte.
    const returned = [...range(0, 1000)].map((i) => sink.write(makeTestRecord({ seq: i, text: big })) as unknown)
    assert.ok(returned.every((r) => r === undefined), 'write() does not wait for the peer')
    assert.equal(sink.stats().sent, 0)
    assert.equal(sink.stats().dropped.queue_full, 600)
    // Loopback buffers take a few MB; then the write stalls and the attempt times out.
    await waitUntil(() => sink.stats().retried > 0, 10_000)
    assert.ok(sink.stats().queueDepth <= 400)
    assert.ok(sink.stats().connection!.disconnects >= 1, 'a stalled connection is dropped, not reused')
    await sink.close(200)
    const st = sink.stats()
    assert.equal(st.queueDepth, 0)
    const lost = Object.values(st.dropped).reduce((a, b) => a + b, 0)
    assert.equal(st.sent + lost, 1000, 'every record is sent or counted as dropped')
    assert.ok((st.dropped.shutdown_deadline ?? 0) > 0)
    await rx.kill()
  })
})

describe('syslog over TCP: conformance', () => {
  runSinkConformance('syslog (tcp)', async () => {
    const port = await freeTcpPort()
    const rx = new Receiver(port)
    await rx.start()
    const sink = tcpSink(port)
    return { sink, received: async () => await rx.settled(), cleanup: async () => { await rx.kill() } }
  })
})
