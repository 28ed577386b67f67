/**
 * The UDP transport's sendmmsg path (native/send.c) against a real UDP socket on 127.0.0.1: the
 * same datagrams, in the same order, as the node:dgram path sends; a batch larger than one
 * sendmmsg call (and than the kernel's 1024 cap); an unreachable port reported as retryable.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { pino } from 'pino'
import { SyslogEncoder } from '../../../src/sinks/syslog/encode.js'
import { resolveSyslogOptions } from '../../../src/sinks/syslog/options.js'
import { UdpTransport, type UdpTransportOptions } from '../../../src/sinks/syslog/udp.js'
import { loadNativeSend } from '../../../src/sinks/syslog/native-send.js'
import { freeUdpPort } from '../../helpers/rsyslog.js'
import { makeTestRecord } from '../conformance.js'
import type { NetconsRecord } from '../../../src/types.js'

const native = loadNativeSend()
const logger = pino({ level: 'silent' })
const open: Array<{ close: () => unknown }> = []
after(async () => { for (const o of open) await o.close() })

async function receiver (): Promise<{ sock: Socket, port: number, got: Buffer[], until: (n: number) => Promise<Buffer[]> }> {
  const sock = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 })
  sock.bind(0, '127.0.0.1')
  await once(sock, 'listening')
  open.push({ close: () => { sock.close() } })
  const got: Buffer[] = []
  sock.on('message', (m) => { got.push(m) })
  const until = async (n: number): Promise<Buffer[]> => {
    const end = Date.now() + 5000
    while (got.length < n && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10))
    await new Promise((resolve) => setTimeout(resolve, 50))
    return got
  }
  return { sock, port: sock.address().port, got, until }
}

function transport (port: number, o: Partial<UdpTransportOptions> = {}): UdpTransport {
  const enc = new SyslogEncoder(resolveSyslogOptions({ host: '127.0.0.1', port, protocol: 'udp' }, 's', '/'))
  const t = new UdpTransport({ host: '127.0.0.1', port, ...o }, enc, logger)
  open.push(t)
  return t
}

function batch (n: number): NetconsRecord[] {
  return Array.from({ length: n }, (_, i) => makeTestRecord({ seq: i, text: `line ${i} ` + 'ü'.repeat(i % 50) + (i % 7 === 0 ? '\nsecond' : '') }))
}

describe('syslog UDP via sendmmsg', { skip: native === null ? 'native addon not built (node scripts/build-native.mjs)' : false }, () => {
  it('sends the same datagrams as the dgram path, in order', async () => {
    const r1 = await receiver()
    const r2 = await receiver()
    const recs = batch(300)
    const a = transport(r1.port)
    const b = transport(r2.port, { native: false })
    assert.equal(a.path, 'sendmmsg')
    assert.equal(b.path, 'dgram')
    assert.deepEqual(await a.send(recs), { status: 'ok' })
    assert.deepEqual(await b.send(recs), { status: 'ok' })
    const viaNative = await r1.until(300)
    const viaDgram = await r2.until(300)
    assert.equal(viaNative.length, 300)
    assert.deepEqual(viaNative, viaDgram)
  })

  it('a batch larger than one sendmmsg call goes out whole (several calls, and above the 1024 cap)', async () => {
    for (const [n, maxPerCall] of [[10, 3], [2500, 1024]] as const) {
      const r = await receiver()
      const t = transport(r.port, { maxPerCall })
      const recs = batch(n)
      assert.deepEqual(await t.send(recs), { status: 'ok' })
      const got = await r.until(n)
      assert.equal(got.length, n)
      assert.deepEqual(got.map((m) => Number(/ seq="(\d+)"/.exec(m.toString())![1])), recs.map((x) => x.seq))
    }
  })

  it('a full send buffer (EAGAIN: fewer sent than asked) resumes where it stopped, nothing lost or repeated', async () => {
    // Loopback frees send-buffer space synchronously, so EAGAIN cannot be provoked reliably: the
    // real addon is wrapped so every other call sends at most 7 datagrams and the next one none,
    // which is what sendmmsg on a full buffer answers.
    const r = await receiver()
    let calls = 0
    const flaky = {
      ...native!,
      udpSendBatch: (fd: number, buf: Buffer, lens: Uint32Array, from: number, count: number, max: number): number =>
        ++calls % 2 === 0 ? 0 : native!.udpSendBatch(fd, buf, lens, from, Math.min(count, from + 7), max)
    }
    const t = transport(r.port, { nativeModule: flaky })
    const recs = batch(100)
    assert.deepEqual(await t.send(recs), { status: 'ok' })
    const got = await r.until(100)
    assert.deepEqual(got.map((m) => Number(/ seq="(\d+)"/.exec(m.toString())![1])), recs.map((x) => x.seq))
    assert.ok(t.sendBufferWaits >= 14, `waits ${t.sendBufferWaits}`)
  })

  it('a send buffer that stays full ends the attempt as retryable after writeTimeoutMs', async () => {
    const r = await receiver()
    const t = transport(r.port, { writeTimeoutMs: 30, nativeModule: { ...native!, udpSendBatch: () => 0 } })
    const res = await t.send(batch(3))
    assert.equal(res.status, 'retryable')
    assert.match((res as { error: Error }).error.message, /0 of 3/)
  })

  it('a port nobody listens on shows up as retryable (ICMP port unreachable → ECONNREFUSED)', async () => {
    const port = await freeUdpPort()
    const t = transport(port)
    await t.send(batch(1))
    await new Promise((resolve) => setTimeout(resolve, 50))
    const res = await t.send(batch(1))
    assert.equal(res.status, 'retryable')
    assert.match((res as { error: Error }).error.message, /UDP send/)
  })
})
