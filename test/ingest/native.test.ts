/**
 * What only the native receive path has: loading and its failure reasons, option and bind errors,
 * the receive buffer it reports, truncation accounting, drain(), exceptions thrown by the batch
 * callback, and life inside worker_threads (SO_REUSEPORT per worker, exit/terminate without
 * close()). The behaviour both paths share is in native-paths.test.ts.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { spawnSync } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { openNativeSocket, loadNative, loadNativeFrom, nativeUnavailableReason, type NativeSocket } from '../../src/ingest/native.js'
import { formatAddress, type PacketBatch } from '../../src/ingest/batch.js'
import { distDir } from '../helpers/paths.js'

const skip = ((): string | false => {
  if (loadNative() !== null) return false
  const reason = `native addon unavailable: ${nativeUnavailableReason() ?? '?'}`
  if (process.env.NETCONSD_REQUIRE_NATIVE === '1') throw new Error(reason)
  return reason
})()

const nativeUrl = pathToFileURL(join(distDir, 'src', 'ingest', 'native.js')).href

async function until (cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 5))
}

async function sendAll (payloads: Buffer[], port: number, host = '127.0.0.1', type: 'udp4' | 'udp6' = 'udp4'): Promise<number> {
  const c = dgram.createSocket(type)
  for (const p of payloads) await new Promise<void>((resolve, reject) => c.send(p, port, host, (e) => { if (e != null) reject(e); else resolve() }))
  const port0 = c.address().port
  c.close()
  return port0
}

function baseOpts (extra: Partial<Parameters<typeof openNativeSocket>[0]> = {}): Parameters<typeof openNativeSocket>[0] {
  return { address: '::', port: 0, recvBufferBytes: 1 << 20, reusePort: false, batchSize: 16, ...extra }
}

/** Sends `${prefix}0`.. from a child process, so they are queued before this thread looks. */
function queueFromChild (port: number, prefix: string, n: number): void {
  const r = spawnSync(process.execPath, ['-e', `const c=require('dgram').createSocket('udp4');let n=0;for(let i=0;i<${n};i++)c.send('${prefix}'+i,${port},'127.0.0.1',()=>{if(++n===${n})c.close()})`])
  assert.equal(r.status, 0, r.stderr?.toString())
}

/** The 6-digit sequence tag the bursts below put at the start of datagram i. */
function tag (b: PacketBatch, i: number): string {
  return b.data.subarray(b.offsets[i], b.offsets[i]! + 6).toString()
}

function texts (b: PacketBatch): string[] {
  const out: string[] = []
  for (let i = 0; i < b.count; i++) out.push(Buffer.from(b.data.subarray(b.offsets[i], b.offsets[i]! + b.lengths[i]!)).toString())
  return out
}

describe('loading', () => {
  test('a missing addon is reported with a reason, not thrown', () => {
    const r = loadNativeFrom('/nonexistent/netconsd_recv.node')
    assert.equal(r.module, null)
    assert.match(r.reason ?? '', /not built|Linux-only/)
  })

  test('a file that is not an addon is reported with a reason', () => {
    const r = loadNativeFrom(join(distDir, 'src', 'ingest', 'batch.js'))
    assert.equal(r.module, null)
    assert.ok(typeof r.reason === 'string' && r.reason.length > 0)
  })

  test('the built addon loads and speaks the expected ABI', { skip }, () => {
    const m = loadNative()
    assert.notEqual(m, null)
    assert.equal(m!.abi, 2)
    assert.equal(nativeUnavailableReason(), null)
  })
})

for (const ringBytes of [0, 4 << 20]) {
  describe(ringBytes === 0 ? 'native socket' : 'native socket with its reader thread', { skip }, () => {
    const opts = (extra: Partial<Parameters<typeof openNativeSocket>[0]> = {}): Parameters<typeof openNativeSocket>[0] => baseOpts({ ringBytes, ...extra })
    test('option errors carry NETCONSD_ERR_INGEST_OPTIONS and the field', () => {
      const bad: Array<[Partial<Parameters<typeof openNativeSocket>[0]>, string]> = [
        [{ port: 70000 }, 'port'],
        [{ port: -1 }, 'port'],
        [{ batchSize: 0 }, 'batchSize'],
        [{ batchSize: 1.5 }, 'batchSize'],
        [{ maxDatagramBytes: 0 }, 'maxDatagramBytes'],
        [{ maxDatagramBytes: 70000 }, 'maxDatagramBytes'],
        [{ recvBufferBytes: -5 }, 'recvBufferBytes'],
        [{ ringBytes: -1 }, 'ringBytes'],
        [{ address: 'not-an-address' }, 'address'],
        [{ address: '' }, 'address']
      ]
      for (const [o, field] of bad) {
        assert.throws(() => openNativeSocket(opts(o), () => {}), (err: { code?: string, field?: string }) => {
          assert.equal(err.code, 'NETCONSD_ERR_INGEST_OPTIONS', JSON.stringify(o))
          assert.equal(err.field, field)
          return true
        })
      }
    })

    test('a port held without SO_REUSEPORT: NETCONSD_ERR_INGEST_BIND with errno EADDRINUSE', () => {
      const a = openNativeSocket(opts(), () => {})
      try {
        assert.throws(() => openNativeSocket(opts({ port: a.boundPort }), () => {}), (err: { code?: string, errno?: string, port?: number }) => {
          assert.equal(err.code, 'NETCONSD_ERR_INGEST_BIND')
          assert.equal(err.errno, 'EADDRINUSE')
          assert.equal(err.port, a.boundPort)
          return true
        })
      } finally { a.close() }
    })

    test('an address not on this host: NETCONSD_ERR_INGEST_BIND with errno EADDRNOTAVAIL', () => {
      assert.throws(() => openNativeSocket(opts({ address: '192.0.2.1' }), () => {}), (err: { code?: string, errno?: string }) => {
        assert.equal(err.code, 'NETCONSD_ERR_INGEST_BIND')
        assert.equal(err.errno, 'EADDRNOTAVAIL')
        return true
      })
    })

    test('reports the receive buffer the kernel granted', () => {
      const s = openNativeSocket(opts({ recvBufferBytes: 3 << 20 }), () => {})
      try {
      // Linux doubles the request (socket(7)); without CAP_NET_ADMIN it is capped at rmem_max first.
        if (s.recvBufferForced) assert.equal(s.recvBufferBytes, 6 << 20)
        else assert.ok(s.recvBufferBytes >= 4096 && s.recvBufferBytes <= 6 << 20)
        assert.equal(s.family, 'ipv6')
      } finally { s.close() }
      const d = openNativeSocket(opts({ recvBufferBytes: 0 }), () => {})
      try { assert.ok(d.recvBufferBytes > 0, 'kernel default kept') } finally { d.close() }
    })

    test('IPv4 and IPv6 bind addresses', async () => {
      const got: string[] = []
      const v4 = openNativeSocket(opts({ address: '127.0.0.1' }), (b) => { for (let i = 0; i < b.count; i++) got.push(formatAddress(b.addrs, i * 16)) })
      const v6 = openNativeSocket(opts({ address: '::1' }), (b) => { for (let i = 0; i < b.count; i++) got.push(formatAddress(b.addrs, i * 16)) })
      try {
        await sendAll([Buffer.from('a')], v4.boundPort, '127.0.0.1')
        await sendAll([Buffer.from('b')], v6.boundPort, '::1', 'udp6')
        await until(() => got.length >= 2)
        assert.deepEqual(got.sort(), ['::1', '::ffff:127.0.0.1'])
      } finally { v4.close(); v6.close() }
    })

    test('datagrams longer than maxDatagramBytes are dropped and counted, never delivered cut', async () => {
      const got: number[] = []
      const s = openNativeSocket(opts({ maxDatagramBytes: 100 }), (b) => { for (let i = 0; i < b.count; i++) got.push(b.lengths[i]!) })
      try {
        await sendAll([Buffer.alloc(100), Buffer.alloc(101), Buffer.alloc(5000), Buffer.alloc(7)], s.boundPort)
        await until(() => got.length >= 2 && s.stats().truncated >= 2)
        assert.deepEqual(got, [100, 7])
        const st = s.stats()
        assert.equal(st.truncated, 2)
        assert.equal(st.truncatedMaxBytes, 5000)
        assert.equal(st.datagrams, 2)
      } finally { s.close() }
    })

    test('large datagrams arrive whole, and their slot pages are given back once consumed', async () => {
      const got: Array<[number, number]> = []
      const s = openNativeSocket(opts({ batchSize: 512, recvBufferBytes: 8 << 20 }), (b) => {
        for (let i = 0; i < b.count; i++) {
          const off = b.offsets[i]!
          const len = b.lengths[i]!
          // The first byte is the datagram's tag; every byte after it is 'a' + tag.
          let same = true
          for (let k = off + 1; k < off + len; k++) if (b.data[k] !== 0x61 + b.data[off]!) { same = false; break }
          got.push([len, same ? b.data[off]! : -1])
        }
      })
      const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024
      try {
        const big = (i: number): Buffer => { const d = Buffer.alloc(60_000, 0x61 + (i % 26)); d[0] = i % 26; return d }
        const payloads: Buffer[] = []
        for (let i = 0; i < 600; i++) payloads.push(i % 5 === 4 ? Buffer.from('small') : big(i))
        const before = rss()
        // In steps the receive buffer holds whole (the test sends and receives on one thread).
        for (let i = 0; i < payloads.length; i += 50) {
          await sendAll(payloads.slice(i, i + 50), s.boundPort)
          await until(() => got.length >= Math.min(payloads.length, i + 50), 5000)
        }
        // The slots of the last batch are trimmed before the next read: one more datagram.
        await sendAll([Buffer.from('tail')], s.boundPort)
        await until(() => got.length >= payloads.length + 1 || s.stats().datagrams > got.length, 5000)
        const bigGot = got.filter(([len]) => len === 60_000)
        assert.ok(bigGot.length >= 400, `the large datagrams arrived (${bigGot.length} of 480)`)
        assert.ok(bigGot.every(([, tag]) => tag !== -1), 'every large datagram arrived byte for byte')
        assert.equal(s.stats().slotTrims, bigGot.length, 'one trim per large datagram, after JS consumed it')
        // Untrimmed, the 512 slots these datagrams reached stay resident: 32 MiB.
        const grown = rss() - before
        assert.ok(grown < 12 << 20, `resident memory grew ${(grown / 1048576).toFixed(1)} MiB after ${bigGot.length} datagrams of 60 kB`)
      } finally { s.close() }
    })

    test('batches never exceed batchSize and the batch object is reused', async () => {
      const sizes: number[] = []
      const seen = new Set<PacketBatch>()
      const all: string[] = []
      const s = openNativeSocket(opts({ batchSize: 4 }), (b) => { sizes.push(b.count); seen.add(b); all.push(...texts(b)) })
      try {
        const payloads = Array.from({ length: 50 }, (_, i) => Buffer.from(`m${i}`))
        await sendAll(payloads, s.boundPort)
        await until(() => all.length >= 50)
        assert.deepEqual(all, payloads.map(String))
        assert.ok(sizes.every((n) => n >= 1 && n <= 4))
        assert.equal(seen.size, 1)
        assert.ok(typeof [...seen][0]!.rxMs === 'number' && Math.abs([...seen][0]!.rxMs - Date.now()) < 60_000)
      } finally { s.close() }
    })

    test('drain() hands over what is queued, synchronously; not from inside the callback', async () => {
      const got: string[] = []
      let inner: unknown
      let s: NativeSocket | undefined = undefined
      s = openNativeSocket(opts(), (b) => {
        got.push(...texts(b))
        try { s!.drain() } catch (err) { inner = err }
      })
      try {
        queueFromChild(s.boundPort, 'd', 20)
        const n = s.drain()
        assert.equal(n, 20)
        assert.equal(got.length, 20)
        assert.equal(got[19], 'd19')
        assert.ok(inner instanceof Error && (inner as { code?: string }).code === 'ERR_NATIVE_REENTRANT')
        assert.equal(s.drain(), 0)
      } finally { s.close() }
      assert.equal(s.drain(), 0, 'drain after close is a no-op')
    })

    test('pause() stops delivery until resume(); nothing is lost in between', async () => {
      const got: string[] = []
      const s = openNativeSocket(opts(), (b) => { got.push(...texts(b)) })
      try {
        s.pause()
        const payloads = Array.from({ length: 20 }, (_, i) => Buffer.from(`p${i}`))
        await sendAll(payloads, s.boundPort)
        await new Promise((resolve) => setTimeout(resolve, 100))
        assert.equal(got.length, 0, 'nothing delivered while paused')
        s.resume()
        await until(() => got.length >= 20)
        assert.deepEqual(got, payloads.map(String))
        assert.equal(s.kernelDrops(), 0)
      } finally { s.close() }
    })

    test('drain() delivers everything queued even when the callback pauses (shutdown must not hang or lose)', () => {
      const got: string[] = []
      let s: NativeSocket | undefined = undefined
      s = openNativeSocket(opts({ batchSize: 4 }), (b) => { got.push(...texts(b)); s!.pause() })
      try {
        queueFromChild(s.boundPort, 'q', 20)
        assert.equal(s.drain(), 20)
        assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `q${i}`))
      } finally { s.close() }
    })

    test('close() from inside the callback stops delivery', async () => {
      let calls = 0
      let s: NativeSocket | undefined = undefined
      s = openNativeSocket(opts({ batchSize: 1 }), () => { calls++; s!.close() })
      await sendAll([Buffer.from('1'), Buffer.from('2'), Buffer.from('3')], s.boundPort)
      await until(() => calls >= 1)
      await new Promise((resolve) => setTimeout(resolve, 20))
      assert.equal(calls, 1)
      assert.equal(s.kernelDrops(), null, 'closed socket has no counters')
    })

    test('an unref()d socket does not keep the process alive; close() frees descriptors', () => {
      const script = `import(${JSON.stringify(nativeUrl)}).then(({ openNativeSocket }) => {
      const fs = require('fs'); const before = fs.readdirSync('/proc/self/fd').length
      const s = openNativeSocket({ address: '::', port: 0, recvBufferBytes: 0, reusePort: true, batchSize: 8, ringBytes: ${ringBytes} }, () => {})
      const t = openNativeSocket({ address: '::', port: 0, recvBufferBytes: 0, reusePort: true, batchSize: 8, ringBytes: ${ringBytes} }, () => {})
      t.close(); t.close()
      s.unref()
      process.on('exit', () => { console.log(JSON.stringify({ before, after: fs.readdirSync('/proc/self/fd').length })) })
    })`
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 })
      assert.equal(r.status, 0, r.stderr)
      const { before, after } = JSON.parse(r.stdout) as { before: number, after: number }
      assert.equal(after, before + (ringBytes > 0 ? 2 : 1), 'only the unref()d socket (with a reader thread: and its eventfd) remains open')
    })
  })
}

test('a reader thread that cannot start is a bind error naming listen.receiveRingBytes and the fix', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  // A stand-in addon whose open() fails the way recv.c does when pthread_create is refused.
  const dir = mkdtempSync(join(tmpdir(), 'ncfake-'))
  const fake = join(dir, 'fake.cjs')
  writeFileSync(fake, `module.exports = { abi: 2, open () { const e = new Error('pthread_create failed: Resource temporarily unavailable'); e.code = 'EAGAIN'; e.syscall = 'pthread_create'; throw e } }`)
  const script = `import(${JSON.stringify(nativeUrl)}).then(({ openNativeSocket }) => {
    try { openNativeSocket({ address: '::', port: 0, recvBufferBytes: 0, reusePort: false, batchSize: 8, ringBytes: 4194304 }, () => {}) } catch (err) {
      console.log(JSON.stringify({ code: err.code, field: err.field, syscall: err.syscall, message: err.message }))
    }
  })`
  try {
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NETCONSD_NATIVE_ADDON: fake } })
    assert.equal(r.status, 0, r.stderr)
    const e = JSON.parse(r.stdout) as { code: string, field: string, syscall: string, message: string }
    assert.equal(e.code, 'NETCONSD_ERR_INGEST_BIND')
    assert.equal(e.syscall, 'pthread_create')
    assert.equal(e.field, 'listen.receiveRingBytes')
    assert.match(e.message, /reader thread could not be started/)
    assert.match(e.message, /set listen\.receiveRingBytes to 0/)
  } finally { rmSync(dir, { recursive: true, force: true }) }
})

describe('the reader thread', { skip }, () => {
  // The point of it: the thread that parses can stop (a long GC, a sink's write, a busy CPU)
  // while the socket keeps being read. spawnSync blocks this thread while a child sends a burst
  // twice the kernel's receive buffer.
  const burst = (port: number, n: number): void => {
    // Paced at ~50k/s (100 datagrams every 2 ms): faster than the kernel buffer can hold for the
    // whole burst, slow enough that a few ms of the reader being descheduled do not overflow it.
    const r = spawnSync(process.execPath, ['-e', `const c=require('dgram').createSocket('udp4');const p=Buffer.alloc(900,0x61);let i=0;const next=()=>{if(i===${n}){c.close();return}p.write(String(i).padStart(6,'0'));i++;c.send(p,${port},'127.0.0.1',()=>{if(i%100===0)setTimeout(next,2);else next()})};next()`])
    assert.equal(r.status, 0, r.stderr?.toString())
  }
  test('an idle ring gives back what a burst made resident, and a ring that keeps up stays small', async () => {
    const got: string[] = []
    const s = openNativeSocket(baseOpts({ recvBufferBytes: 4 << 20, batchSize: 256, ringBytes: 8 << 20 }), (b) => {
      for (let i = 0; i < b.count; i++) got.push(tag(b, i))
    })
    try {
      s.pause()
      burst(s.boundPort, 3000) // ~2.8 MB into the ring while nothing is taken out
      await until(() => s.stats().ringUsedBytes > 2 << 20, 3000)
      assert.ok(s.stats().ringResidentBytes > 2 << 20, `the burst is resident (${s.stats().ringResidentBytes})`)
      s.resume()
      await until(() => got.length + (s.kernelDrops() ?? 0) >= 3000, 5000)
      await until(() => s.stats().ringTrims > 0, 3000)
      const st = s.stats()
      assert.equal(st.ringTrims, 1, 'trimmed once, when idle')
      assert.ok(st.ringResidentBytes <= 256 * 1024 + 4096, `only the first 256 KiB may stay (${st.ringResidentBytes})`)
      // Traffic that the worker keeps up with starts again at the ring's beginning.
      const before = got.length
      for (let i = 0; i < 5; i++) await sendAll(Array.from({ length: 20 }, () => Buffer.from('tailxx')), s.boundPort)
      await until(() => got.length >= before + 100, 3000)
      assert.equal(got.length, before + 100)
      assert.ok(s.stats().ringResidentBytes <= 256 * 1024 + 4096, `still small (${s.stats().ringResidentBytes})`)
      assert.equal(s.kernelDrops(), 0)
    } finally { s.close() }
  })

  test('drain() while the ring is full hands over the ring, what the reader held and the kernel queue, in order', async () => {
    const got: string[] = []
    const s = openNativeSocket(baseOpts({ recvBufferBytes: 2 << 20, batchSize: 64, ringBytes: 256 * 1024 }), (b) => {
      for (let i = 0; i < b.count; i++) got.push(tag(b, i))
    })
    try {
      s.pause()
      const n = 1000
      burst(s.boundPort, n) // ~0.9 MB: the 256 KiB ring fills and the reader waits for room
      await until(() => s.stats().ringFullWaits > 0, 2000)
      assert.ok(s.stats().ringFullWaits > 0, 'the reader found the ring full')
      assert.ok(s.stats().ringUsedBytes > 128 * 1024, `the ring holds what waits (${s.stats().ringUsedBytes} bytes)`)
      assert.equal(got.length, 0, 'paused: nothing delivered yet')
      const drained = s.drain()
      const drops = s.kernelDrops()!
      assert.equal(drained, got.length)
      assert.equal(got.length + drops, n, 'every datagram delivered or counted by the kernel')
      assert.deepEqual(got, got.slice().sort(), 'in order')
      assert.ok(got.length > 600, `most of the burst was queued and delivered (${got.length})`)
    } finally { s.close() }
  })

  for (const ringBytes of [0, 16 << 20]) {
    test(ringBytes === 0 ? 'without it, a blocked thread loses what its kernel buffer cannot hold (counted)' : 'with it, a blocked thread loses nothing of a burst its kernel buffer cannot hold', async () => {
      const got: string[] = []
      const s = openNativeSocket(baseOpts({ recvBufferBytes: 1 << 20, batchSize: 256, ringBytes }), (b) => {
        for (let i = 0; i < b.count; i++) got.push(tag(b, i))
      })
      try {
        const n = 5000
        burst(s.boundPort, n)
        await until(() => got.length + (s.kernelDrops() ?? 0) >= n, 10_000)
        const drops = s.kernelDrops()!
        assert.equal(got.length + drops, n, 'every datagram delivered or counted by the kernel')
        if (ringBytes === 0) {
          assert.ok(drops > 0, 'the burst overflowed the kernel buffer')
        } else {
          assert.equal(drops, 0, 'the reader thread kept the socket drained')
          assert.deepEqual(got, Array.from({ length: n }, (_, i) => String(i).padStart(6, '0')), 'in order')
          const st = s.stats()
          assert.equal(st.ringBytes, 16 << 20)
          assert.equal(st.ringUsedBytes, 0, 'the ring is empty once delivered')
          assert.equal(st.ringFullWaits, 0)
        }
      } finally { s.close() }
    })
  }
})

// A worker that opens a steered SO_REUSEPORT socket and reports what it received per sender.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
import(workerData.url).then(({ openNativeSocket }) => {
  const seen = {}
  const s = openNativeSocket({ address: '::', port: workerData.port, recvBufferBytes: 4 << 20, reusePort: true, batchSize: 32, steerGroupSize: workerData.group, ringBytes: workerData.ringBytes ?? 0 }, (b) => {
    for (let i = 0; i < b.count; i++) {
      const off = b.offsets[i]
      const text = Buffer.from(b.data.subarray(off, off + b.lengths[i])).toString()
      const [host, seq] = text.split(' ')
      ;(seen[host] ??= []).push(Number(seq))
      if (workerData.throwOn !== undefined && text.startsWith(workerData.throwOn)) throw new Error('boom from onBatch')
    }
  })
  parentPort.on('message', (m) => {
    if (m === 'report') parentPort.postMessage({ type: 'report', seen, drops: s.kernelDrops() })
    if (m === 'exit') process.exit(0)
    if (m === 'close') { s.close(); parentPort.postMessage({ type: 'closed' }) }
  })
  parentPort.postMessage({ type: 'ready', port: s.boundPort })
})
`

function startWorker (data: { port: number, group: number, throwOn?: string, ringBytes?: number }): { w: Worker, ready: Promise<number> } {
  const w = new Worker(workerSource, { eval: true, workerData: { url: nativeUrl, ...data } })
  const ready = new Promise<number>((resolve, reject) => {
    w.once('error', reject)
    w.on('message', (m: { type: string, port?: number }) => { if (m.type === 'ready') resolve(m.port!) })
  })
  return { w, ready }
}

async function report (w: Worker): Promise<{ seen: Record<string, number[]>, drops: number | null }> {
  const p = new Promise<{ seen: Record<string, number[]>, drops: number | null }>((resolve) => {
    const on = (m: { type: string, seen: Record<string, number[]>, drops: number | null }): void => { if (m.type === 'report') { w.off('message', on); resolve(m) } }
    w.on('message', on)
  })
  w.postMessage('report')
  return await p
}

async function portIsFree (port: number): Promise<boolean> {
  const probe = dgram.createSocket({ type: 'udp6', ipv6Only: false })
  try {
    probe.bind({ port, address: '::', exclusive: true })
    await once(probe, 'listening')
    return true
  } catch {
    return false
  } finally {
    try { probe.close() } catch {}
  }
}

for (const ringBytes of [0, 4 << 20]) {
  describe(ringBytes === 0 ? 'native sockets in worker_threads' : 'native sockets with reader threads in worker_threads', { skip }, () => {
    test('two workers share the port; every host lands on one worker, in order; exit and terminate without close() free the port', async () => {
      for (let round = 0; round < 3; round++) {
        const a = startWorker({ port: 0, group: 2, ringBytes })
        const port = await a.ready
        const b = startWorker({ port, group: 2, ringBytes })
        await b.ready
        const clients: dgram.Socket[] = []
        try {
          for (let h = 1; h <= 12; h++) {
            const c = dgram.createSocket('udp4')
            c.bind(0, `127.0.0.${h}`)
            await once(c, 'listening')
            clients.push(c)
          }
          for (let seq = 0; seq < 40; seq++) {
            for (let h = 0; h < clients.length; h++) {
              await new Promise<void>((resolve) => clients[h]!.send(`h${h} ${seq}`, port, '127.0.0.1', () => resolve()))
            }
          }
          let ra = await report(a.w)
          let rb = await report(b.w)
          const count = (r: typeof ra): number => Object.values(r.seen).reduce((n, v) => n + v.length, 0)
          const end = Date.now() + 5000
          while (count(ra) + count(rb) < 480 && Date.now() < end) {
            await new Promise((resolve) => setTimeout(resolve, 10))
            ra = await report(a.w); rb = await report(b.w)
          }
          assert.equal(count(ra) + count(rb), 480)
          assert.ok(count(ra) > 0 && count(rb) > 0, 'both workers received')
          for (const host of Object.keys(ra.seen)) assert.equal(rb.seen[host], undefined, `${host} on one worker`)
          for (const r of [ra, rb]) {
            for (const [host, seqs] of Object.entries(r.seen)) assert.deepEqual(seqs, Array.from({ length: 40 }, (_, i) => i), host)
            assert.equal(r.drops, 0)
          }
        } finally {
          for (const c of clients) c.close()
        }
        // One worker exits without close(), the other is terminated: the addon's cleanup hook must
        // close both sockets and nothing may crash.
        const exited = once(a.w, 'exit')
        a.w.postMessage('exit')
        await exited
        await b.w.terminate()
        assert.ok(await portIsFree(port), `round ${round}: port ${port} released`)
      }
    })

    test('an exception thrown by onBatch surfaces as the worker\'s error, not silently', async () => {
      const { w, ready } = startWorker({ port: 0, group: 0, throwOn: 'h0 3', ringBytes })
      const port = await ready
      const errored = once(w, 'error')
      // Listened for now: 'exit' can follow 'error' in the same tick, before an await resumes.
      const exited = once(w, 'exit').catch(() => {})
      const c = dgram.createSocket('udp4')
      for (let i = 0; i < 5; i++) c.send(`h0 ${i}`, port, '127.0.0.1')
      const [err] = await errored as [Error]
      c.close()
      assert.match(err.message, /boom from onBatch/)
      await exited
      // Released as the worker's environment is torn down, which can end just after 'exit' is seen.
      let free = false
      for (const end = Date.now() + 2000; !free && Date.now() < end;) {
        free = await portIsFree(port)
        if (!free) await new Promise((resolve) => setTimeout(resolve, 20))
      }
      assert.ok(free, 'socket closed with the worker')
    })

    test('descriptors do not leak across worker churn', async () => {
      const fds = readdirSync('/proc/self/fd').length
      for (let i = 0; i < 5; i++) {
        const { w, ready } = startWorker({ port: 0, group: 0, ringBytes })
        await ready
        await w.terminate()
      }
      await until(() => readdirSync('/proc/self/fd').length <= fds + 2, 2000)
      // Worker threads may leave a libuv descriptor or two to the next GC; sockets would be 5.
      assert.ok(readdirSync('/proc/self/fd').length <= fds + 2)
    })
  })
}
