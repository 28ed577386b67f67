/**
 * One receive-path suite, run against both paths: the native recvmmsg addon (one SO_REUSEPORT
 * socket per worker, steered by address) and the JS fallback (one dgram socket on the main thread,
 * hashed to workers, batches handed over). Both must deliver the same bytes, from the same senders,
 * with each sender's datagrams on one worker and in order.
 *
 * The native half is skipped (with the reason) when the addon is not built, unless
 * NETCONSD_REQUIRE_NATIVE=1, which CI sets so that a broken build cannot pass silently.
 */
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import fc from 'fast-check'
import { openNativeSocket, loadNative, nativeUnavailableReason, type NativeSocket } from '../../src/ingest/native.js'
import { JsIngest } from '../../src/ingest/udp.js'
import { formatAddress, parseAddress, type PacketBatch } from '../../src/ingest/batch.js'
import { workerFor } from '../../src/ingest/hash.js'
import { kernelFixturesDir } from '../helpers/paths.js'

interface Packet { worker: number, addr: string, port: number, payload: Buffer }

interface Receiver {
  readonly port: number
  readonly packets: Packet[]
  /** Datagrams the kernel dropped for the receiving socket(s); null if unknown. */
  kernelDrops: () => number | null
  close: () => Promise<void>
}

interface PathImpl {
  name: string
  skip: string | false
  open: (o: { workers: number, recvBufferBytes: number, port?: number }) => Promise<Receiver>
}

function collect (packets: Packet[], worker: number, b: PacketBatch): void {
  for (let i = 0; i < b.count; i++) {
    const off = b.offsets[i]!
    // Copy: the native path reuses the batch memory after the callback returns.
    packets.push({ worker, addr: formatAddress(b.addrs, i * 16), port: b.ports[i]!, payload: Buffer.from(b.data.subarray(off, off + b.lengths[i]!)) })
  }
}

/** The drops column of /proc/net/udp6 for sockets bound to `port` (the JS path has no SO_MEMINFO). */
function procUdpDrops (port: number): number | null {
  let total: number | null = null
  for (const f of ['/proc/net/udp6', '/proc/net/udp']) {
    if (!existsSync(f)) continue
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      const local = cols[1]
      if (local === undefined || parseInt(local.split(':')[1] ?? '', 16) !== port) continue
      total = (total ?? 0) + Number(cols[cols.length - 1])
    }
  }
  return total
}

const nativeSkip = (): string | false => {
  if (loadNative() !== null) return false
  const reason = `native addon unavailable: ${nativeUnavailableReason() ?? '?'}`
  if (process.env.NETCONSD_REQUIRE_NATIVE === '1') throw new Error(reason)
  return reason
}

/** The native path; ringBytes > 0: read by the addon's reader thread into a ring of that size. */
function nativePath (name: string, ringBytes: number): PathImpl {
  return {
    name,
    skip: nativeSkip(),
    open: async ({ workers, recvBufferBytes, port = 0 }) => {
      const packets: Packet[] = []
      const socks: NativeSocket[] = []
      // Bound one after another, so socket k is index k of the SO_REUSEPORT group = worker k.
      for (let k = 0; k < workers; k++) {
        socks.push(openNativeSocket({
          address: '::', port: k === 0 ? port : socks[0]!.boundPort, recvBufferBytes, reusePort: true, batchSize: 64, steerGroupSize: workers, ringBytes
        }, (b) => collect(packets, k, b)))
      }
      return {
        port: socks[0]!.boundPort,
        packets,
        kernelDrops: () => socks.reduce((n, s) => n + (s.kernelDrops() ?? NaN), 0),
        close: async () => { for (const s of socks) s.close() }
      }
    }
  }
}

const paths: PathImpl[] = [
  nativePath('native', 0),
  // A small ring (the floor is two 64 KiB datagrams), so a burst fills it and the kernel drops
  // the rest: the reader thread never drops anything itself.
  nativePath('native, reader thread', 256 * 1024),
  {
    name: 'js',
    skip: false,
    open: async ({ workers, recvBufferBytes, port = 0 }) => {
      const packets: Packet[] = []
      const ingest = new JsIngest({
        address: '::', port, recvBufferBytes, listeners: 1, workers, maxQueuedBytesPerWorker: 1 << 30,
        logger: pino({ level: 'silent' }),
        post: (w, m) => { collect(packets, w, m); ingest.ack(w, m.data.byteLength) }
      })
      await ingest.start()
      return {
        port: ingest.boundPort,
        packets,
        kernelDrops: () => procUdpDrops(ingest.boundPort),
        close: async () => { await ingest.close() }
      }
    }
  }
]

/** Waits (no timing assertion) until `cond` holds or `ms` pass; the caller asserts afterwards. */
async function until (cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 5))
}

async function client (type: 'udp4' | 'udp6', address?: string): Promise<dgram.Socket> {
  const c = dgram.createSocket(type)
  c.bind(0, address)
  await once(c, 'listening')
  return c
}

async function send (c: dgram.Socket, payload: Uint8Array, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => c.send(payload, port, host, (err) => { if (err != null) reject(err); else resolve() }))
}

function fdCount (): number {
  return readdirSync('/proc/self/fd').length
}

function mapped (addr: string): Uint8Array {
  const b = new Uint8Array(16)
  parseAddress(addr, b, 0)
  return b
}

for (const path of paths) {
  describe(`receive path: ${path.name}`, { skip: path.skip }, () => {
    test('real-kernel captures arrive byte-exact and in order', async () => {
      const r = await path.open({ workers: 2, recvBufferBytes: 8 << 20 })
      const c = await client('udp4', '127.0.0.1')
      try {
        const dirs = readdirSync(kernelFixturesDir).filter((d) => existsSync(join(kernelFixturesDir, d, 'payloads.jsonl'))).sort()
        assert.ok(dirs.length >= 10, 'fixtures present')
        let expected: Buffer[] = []
        for (const d of dirs) {
          const lines = readFileSync(join(kernelFixturesDir, d, 'payloads.jsonl'), 'utf8').split('\n').filter((l) => l !== '')
          const payloads = lines.map((l) => Buffer.from((JSON.parse(l) as { b64: string }).b64, 'base64'))
          for (const p of payloads) await send(c, p, r.port, '127.0.0.1')
          expected = expected.concat(payloads)
        }
        await until(() => r.packets.length >= expected.length)
        assert.equal(r.packets.length, expected.length)
        const workers = new Set(r.packets.map((p) => p.worker))
        assert.equal(workers.size, 1, 'one sender, one worker')
        for (let i = 0; i < expected.length; i++) {
          assert.deepEqual(r.packets[i]!.payload, expected[i], `datagram ${i}`)
          assert.equal(r.packets[i]!.addr, '::ffff:127.0.0.1')
          assert.equal(r.packets[i]!.port, c.address().port)
        }
      } finally {
        c.close()
        await r.close()
      }
    })

    test('IPv4 and IPv6 senders: address and port as dgram reports them', async () => {
      const r = await path.open({ workers: 1, recvBufferBytes: 1 << 20 })
      const c4 = await client('udp4')
      const c6 = await client('udp6')
      try {
        await send(c4, Buffer.from('four'), r.port, '127.0.0.1')
        await send(c6, Buffer.from('six'), r.port, '::1')
        await until(() => r.packets.length >= 2)
        const byText = new Map(r.packets.map((p) => [p.payload.toString(), p]))
        assert.equal(byText.get('four')?.addr, '::ffff:127.0.0.1')
        assert.equal(byText.get('four')?.port, c4.address().port)
        assert.equal(byText.get('six')?.addr, '::1')
        assert.equal(byText.get('six')?.port, c6.address().port)
      } finally {
        c4.close(); c6.close()
        await r.close()
      }
    })

    test('many hosts over several workers: one worker per host, each host in order, none lost', async () => {
      const W = 3
      const r = await path.open({ workers: W, recvBufferBytes: 8 << 20 })
      const clients: Array<{ c: dgram.Socket, host: string, family: 'udp4' | 'udp6' }> = []
      try {
        // 16 IPv4 hosts with 2 source ports each (the same host from two ports must still reach
        // one worker) and IPv6 loopback from 2 ports.
        for (let h = 1; h <= 16; h++) {
          for (let p = 0; p < 2; p++) clients.push({ c: await client('udp4', `127.0.0.${h}`), host: '127.0.0.1', family: 'udp4' })
        }
        for (let p = 0; p < 2; p++) clients.push({ c: await client('udp6', '::1'), host: '::1', family: 'udp6' })
        const perClient = 150
        for (let seq = 0; seq < perClient; seq++) {
          for (let i = 0; i < clients.length; i++) {
            const { c, host } = clients[i]!
            // Extended-format header with a per-sender sequence number, like a kernel would send.
            await send(c, Buffer.from(`6,${seq},${seq * 1000},-;client ${i} message ${seq}\n`), r.port, host)
          }
        }
        const total = perClient * clients.length
        await until(() => r.packets.length >= total)
        assert.equal(r.packets.length, total, 'nothing lost')
        const workerOf = new Map<string, Set<number>>()
        const lastSeq = new Map<string, number>()
        for (const p of r.packets) {
          const w = workerOf.get(p.addr) ?? new Set<number>()
          w.add(p.worker)
          workerOf.set(p.addr, w)
          const key = `${p.addr} ${p.port}`
          const seq = Number(p.payload.toString().split(',')[1])
          assert.equal(seq, (lastSeq.get(key) ?? -1) + 1, `${key} in order`)
          lastSeq.set(key, seq)
        }
        assert.equal(workerOf.size, 17)
        for (const [addr, ws] of workerOf) {
          assert.equal(ws.size, 1, `${addr} on one worker`)
          // Both paths use netconsd's address hash, so they agree on the worker.
          assert.equal([...ws][0], workerFor(mapped(addr), 0, W), `${addr} on worker jhash % W`)
        }
        assert.ok(new Set(r.packets.map((p) => p.worker)).size > 1, 'load spread over workers')
      } finally {
        for (const { c } of clients) c.close()
        await r.close()
      }
    })

    test('datagrams of every size up to the UDP maximum arrive whole (IPv4 and IPv6)', async () => {
      const r = await path.open({ workers: 1, recvBufferBytes: 8 << 20 })
      const c4 = await client('udp4')
      const c6 = await client('udp6')
      try {
        // 65507 / 65527: the largest UDP payloads over IPv4 / IPv6 (65535 minus IP and UDP headers).
        const fixed = [0, 1, 2, 999, 1000, 1001, 1023, 1024, 1025, 2047, 2048, 2049, 4096, 9000, 32768, 65507]
        const random = fc.sample(fc.integer({ min: 0, max: 65507 }), { numRuns: 40, seed: 42 })
        const sizes4 = [...fixed, ...random]
        const sizes6 = [65527, 65508, 0, 1500, ...fc.sample(fc.integer({ min: 0, max: 65527 }), { numRuns: 10, seed: 7 })]
        const expected = new Map<string, Buffer>()
        let n = 0
        const mk = (size: number): Buffer => {
          const b = Buffer.alloc(size)
          for (let i = 0; i < size; i++) b[i] = (i * 31 + n) & 0xff
          if (size >= 4) b.writeUInt32BE(n, 0)
          n++
          return b
        }
        for (const s of sizes4) { const b = mk(s); expected.set(`4:${s}:${n}`, b); await send(c4, b, r.port, '127.0.0.1') }
        for (const s of sizes6) { const b = mk(s); expected.set(`6:${s}:${n}`, b); await send(c6, b, r.port, '::1') }
        await until(() => r.packets.length >= expected.size)
        assert.equal(r.packets.length, expected.size)
        const want = [...expected.values()]
        const v4 = r.packets.filter((p) => p.addr.startsWith('::ffff:'))
        const v6 = r.packets.filter((p) => p.addr === '::1')
        assert.deepEqual(v4.map((p) => p.payload.length), sizes4)
        assert.deepEqual(v6.map((p) => p.payload.length), sizes6)
        const got = [...v4, ...v6]
        for (let i = 0; i < want.length; i++) assert.ok(got[i]!.payload.equals(want[i]!), `datagram ${i} (${want[i]!.length} bytes) intact`)
      } finally {
        c4.close(); c6.close()
        await r.close()
      }
    })

    test('a burst larger than the receive buffer: drops counted by the kernel, receiving goes on', async () => {
      // The smallest buffer the kernel allows (it doubles the request and enforces a floor).
      const r = await path.open({ workers: 1, recvBufferBytes: 4096 })
      const c = await client('udp4')
      try {
        const sent = 2000
        const payload = Buffer.alloc(900, 0x61)
        // All sends complete before this thread returns to the event loop, so nothing is read
        // while the burst arrives: most of it cannot fit.
        await new Promise<void>((resolve) => {
          let left = sent
          for (let i = 0; i < sent; i++) c.send(payload, r.port, '127.0.0.1', () => { if (--left === 0) resolve() })
        })
        await until(() => r.packets.length + (r.kernelDrops() ?? 0) >= sent)
        const drops = r.kernelDrops()
        assert.notEqual(drops, null, 'kernel drop counter readable')
        assert.ok(drops! > 0, 'the burst overflowed the buffer')
        assert.ok(r.packets.length > 0, 'what fitted was delivered')
        assert.equal(r.packets.length + drops!, sent, 'every datagram is either delivered or counted')
        // Still receiving.
        const before = r.packets.length
        await send(c, Buffer.from('after'), r.port, '127.0.0.1')
        await until(() => r.packets.length > before)
        assert.equal(r.packets.at(-1)?.payload.toString(), 'after')
      } finally {
        c.close()
        await r.close()
      }
    })

    test('clean shutdown: sockets closed, port free, no descriptor left behind', async () => {
      const fds = fdCount()
      const r = await path.open({ workers: 2, recvBufferBytes: 1 << 20 })
      const port = r.port
      const c = await client('udp4')
      await send(c, Buffer.from('x'), port, '127.0.0.1')
      await until(() => r.packets.length >= 1)
      c.close()
      await r.close()
      await r.close() // idempotent
      // An exclusive bind fails with EADDRINUSE while any socket still holds the port.
      const probe = dgram.createSocket({ type: 'udp6', ipv6Only: false })
      probe.bind({ port, address: '::', exclusive: true })
      await once(probe, 'listening')
      probe.close()
      await until(() => fdCount() <= fds, 2000)
      assert.ok(fdCount() <= fds, `descriptors back to ${fds} (now ${fdCount()})`)
    })
  })
}

describe('receive paths agree', { skip: nativeSkip() }, () => {
  let rs: Receiver[] = []
  before(async () => {
    rs = await Promise.all(paths.map(async (p) => await p.open({ workers: 2, recvBufferBytes: 4 << 20 })))
  })
  after(async () => { for (const r of rs) await r.close() })

  test('the same traffic yields the same packets, worker for worker, in the same order (native, native with its reader thread, js)', async () => {
    const cs = [await client('udp4', '127.0.0.2'), await client('udp4', '127.0.0.3'), await client('udp6', '::1')]
    try {
      for (let i = 0; i < 60; i++) {
        const c = cs[i % cs.length]!
        const host = c.address().family === 'IPv6' ? '::1' : '127.0.0.1'
        const p = Buffer.from(`5,${i},0,-;message ${i}\n`)
        for (const r of rs) await send(c, p, r.port, host)
      }
      await until(() => rs.every((r) => r.packets.length >= 60))
      const norm = (ps: Packet[]): string[] => [...ps].sort((a, b) => a.worker - b.worker).map((p) => `${p.worker} ${p.addr} ${p.port} ${p.payload.toString('hex')}`)
      assert.equal(rs.length, 3)
      for (const r of rs.slice(1)) assert.deepEqual(norm(r.packets), norm(rs[0]!.packets))
    } finally {
      for (const c of cs) c.close()
    }
  })
})
