/**
 * TCP: a batch is one socket write of one buffer, even when it is far larger than the socket
 * buffers (the kernel takes it in short writes; libuv continues them, and the send only
 * resolves once all of it was handed over). A receiver that stops reading for a while
 * (backpressure) gets every frame intact, in order, with octet counting.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, Socket, type Server } from 'node:net'
import { once } from 'node:events'
import { pino } from 'pino'
import { SyslogEncoder } from '../../../src/sinks/syslog/encode.js'
import { resolveSyslogOptions } from '../../../src/sinks/syslog/options.js'
import { StreamTransport } from '../../../src/sinks/syslog/stream.js'
import { makeTestRecord } from '../conformance.js'

const toClose: Array<() => unknown> = []
after(async () => { for (const c of toClose) await c() })

describe('syslog TCP batches', () => {
  it('a batch larger than the socket buffers goes out in one write and arrives whole through a stalled reader', async () => {
    const frames: string[] = []
    let buf = Buffer.alloc(0)
    const conns = new Set<Socket>()
    const srv: Server = createServer((sock) => {
      conns.add(sock)
      // Stall: read nothing for 300 ms, so the sender's kernel buffer fills and its write is short.
      sock.pause()
      setTimeout(() => { sock.resume() }, 300)
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        for (;;) {
          const sp = buf.indexOf(0x20)
          if (sp < 0) break
          const len = Number(buf.subarray(0, sp).toString())
          if (buf.length < sp + 1 + len) break
          frames.push(buf.subarray(sp + 1, sp + 1 + len).toString())
          buf = buf.subarray(sp + 1 + len)
        }
      })
    })
    srv.listen(0, '127.0.0.1')
    await once(srv, 'listening')
    toClose.push(() => new Promise((resolve) => { for (const c of conns) c.destroy(); srv.close(resolve) }))
    const port = (srv.address() as { port: number }).port
    const opts = resolveSyslogOptions({ host: '127.0.0.1', port, protocol: 'tcp' }, 's', '/')
    const t = new StreamTransport({ ...opts, protocol: 'tcp', writeTimeoutMs: 10_000 }, new SyslogEncoder(opts), pino({ level: 'silent' }))
    toClose.push(async () => { await t.close() })
    const recs = Array.from({ length: 4000 }, (_, i) => makeTestRecord({ seq: i, text: `line ${i} ` + 'x'.repeat(1000) + '\nü' }))
    const writes: number[] = []
    const orig = Socket.prototype.write
    Socket.prototype.write = function (this: Socket, ...args: unknown[]) {
      if (this.remotePort === port) writes.push((args[0] as Buffer).length)
      return (orig as (...a: unknown[]) => boolean).apply(this, args)
    }
    let res
    try {
      res = await t.send(recs)
    } finally {
      Socket.prototype.write = orig
    }
    assert.deepEqual(res, { status: 'ok' })
    assert.equal(writes.length, 1, 'one write per batch')
    assert.ok(writes[0]! > 4 * 1024 * 1024, `batch of ${writes[0]} bytes`)
    const end = Date.now() + 10_000
    while (frames.length < 4000 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(frames.length, 4000)
    assert.deepEqual(frames.map((f) => Number(/ seq="(\d+)"/.exec(f)![1])), recs.map((r) => r.seq))
    assert.ok(frames.every((f, i) => f.endsWith(`line ${i} ` + 'x'.repeat(1000) + '\nü')))
  })
})
