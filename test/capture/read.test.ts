import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile, rm, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readCapture, decodeLink } from '../../src/capture/read.js'
import type { CapturedDatagram } from '../../src/capture/read.js'
import { kernelFixturesDir } from '../helpers/paths.js'

async function collect (it: AsyncIterable<CapturedDatagram>): Promise<CapturedDatagram[]> {
  const out: CapturedDatagram[] = []
  for await (const d of it) out.push(d)
  return out
}

async function withTmp (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'netconsd-cap-'))
  try { await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

// ─── hand-built frames ───

function udp (srcPort: number, dstPort: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8)
  h.writeUInt16BE(srcPort, 0); h.writeUInt16BE(dstPort, 2); h.writeUInt16BE(8 + payload.length, 4)
  return Buffer.concat([h, payload])
}

function ipv4 (src: number[], proto: number, body: Buffer, frag = 0): Buffer {
  const h = Buffer.alloc(20)
  h[0] = 0x45; h.writeUInt16BE(20 + body.length, 2); h.writeUInt16BE(frag, 6); h[8] = 64; h[9] = proto
  Buffer.from(src).copy(h, 12); Buffer.from([10, 0, 0, 1]).copy(h, 16)
  return Buffer.concat([h, body])
}

function ipv6 (src: number[], next: number, body: Buffer, ext?: Buffer): Buffer {
  const h = Buffer.alloc(40)
  h[0] = 0x60
  const payload = ext === undefined ? body : Buffer.concat([ext, body])
  h.writeUInt16BE(payload.length, 4); h[6] = ext === undefined ? next : 0; h[7] = 64
  Buffer.from(src).copy(h, 8); h[39] = 1
  return Buffer.concat([h, payload])
}

function eth (etherType: number, body: Buffer, vlan = false): Buffer {
  const h = Buffer.alloc(vlan ? 18 : 14)
  if (vlan) { h.writeUInt16BE(0x8100, 12); h.writeUInt16BE(42, 14); h.writeUInt16BE(etherType, 16) } else h.writeUInt16BE(etherType, 12)
  return Buffer.concat([h, body])
}

function sll (etherType: number, body: Buffer): Buffer {
  const h = Buffer.alloc(16); h.writeUInt16BE(etherType, 14); return Buffer.concat([h, body])
}

function sll2 (etherType: number, body: Buffer): Buffer {
  const h = Buffer.alloc(20); h.writeUInt16BE(etherType, 0); return Buffer.concat([h, body])
}

const V6SRC = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42]

function pcap (linkType: number, frames: Array<{ sec: number, usec: number, data: Buffer, orig?: number }>, opts: { be?: boolean, nanos?: boolean } = {}): Buffer {
  const be = opts.be === true
  const w32 = (b: Buffer, v: number, o: number): void => { if (be) b.writeUInt32BE(v, o); else b.writeUInt32LE(v, o) }
  const w16 = (b: Buffer, v: number, o: number): void => { if (be) b.writeUInt16BE(v, o); else b.writeUInt16LE(v, o) }
  const g = Buffer.alloc(24)
  w32(g, opts.nanos === true ? 0xa1b23c4d : 0xa1b2c3d4, 0); w16(g, 2, 4); w16(g, 4, 6); w32(g, 65535, 16); w32(g, linkType, 20)
  const parts: Buffer[] = [g]
  for (const f of frames) {
    const r = Buffer.alloc(16)
    w32(r, f.sec, 0); w32(r, f.usec, 4); w32(r, f.data.length, 8); w32(r, f.orig ?? f.data.length, 12)
    parts.push(r, f.data)
  }
  return Buffer.concat(parts)
}

function block (type: number, body: Buffer, be = false): Buffer {
  const pad = (4 - (body.length % 4)) % 4
  const total = 12 + body.length + pad
  const b = Buffer.alloc(total)
  if (be) { b.writeUInt32BE(type, 0); b.writeUInt32BE(total, 4); b.writeUInt32BE(total, total - 4) } else { b.writeUInt32LE(type, 0); b.writeUInt32LE(total, 4); b.writeUInt32LE(total, total - 4) }
  body.copy(b, 8)
  return b
}

function shb (be = false): Buffer {
  const body = Buffer.alloc(16)
  if (be) { body.writeUInt32BE(0x1a2b3c4d, 0); body.writeUInt16BE(1, 4) } else { body.writeUInt32LE(0x1a2b3c4d, 0); body.writeUInt16LE(1, 4) }
  body.writeBigInt64LE(-1n, 8)
  return block(0x0a0d0d0a, body, be)
}

function idb (linkType: number, tsresol?: number, be = false): Buffer {
  const opt = tsresol === undefined ? Buffer.alloc(0) : Buffer.from([0, 0, 0, 0, tsresol, 0, 0, 0, 0, 0, 0, 0])
  if (tsresol !== undefined) { if (be) { opt.writeUInt16BE(9, 0); opt.writeUInt16BE(1, 2) } else { opt.writeUInt16LE(9, 0); opt.writeUInt16LE(1, 2) } }
  const body = Buffer.alloc(8)
  if (be) { body.writeUInt16BE(linkType, 0); body.writeUInt32BE(65535, 4) } else { body.writeUInt16LE(linkType, 0); body.writeUInt32LE(65535, 4) }
  return block(1, Buffer.concat([body, opt]), be)
}

function epb (ifid: number, ts: bigint, data: Buffer, be = false): Buffer {
  const h = Buffer.alloc(20)
  const w = (v: number, o: number): void => { if (be) h.writeUInt32BE(v, o); else h.writeUInt32LE(v, o) }
  w(ifid, 0); w(Number(ts >> 32n), 4); w(Number(ts & 0xffffffffn), 8); w(data.length, 12); w(data.length, 16)
  return block(6, Buffer.concat([h, data]), be)
}

const P1 = Buffer.from('6,1,100,-;hello\n')
const P2 = Buffer.from('4,2,200,-;world\n')

test('pcap (LE, µs) over Ethernet with IPv4 and IPv6, skipping non-UDP and IP fragments', async () => {
  await withTmp(async (dir) => {
    const file = join(dir, 'a.pcap')
    await writeFile(file, pcap(1, [
      { sec: 1000, usec: 500, data: eth(0x0800, ipv4([10, 1, 2, 3], 17, udp(6665, 6666, P1))) },
      { sec: 1000, usec: 1500, data: eth(0x0800, ipv4([10, 1, 2, 3], 6, Buffer.alloc(20))) },
      { sec: 1000, usec: 2000, data: eth(0x0800, ipv4([10, 1, 2, 3], 17, udp(6665, 6666, P1), 0x2000)) },
      { sec: 1000, usec: 2500, data: eth(0x0806, Buffer.alloc(28)) },
      { sec: 1001, usec: 500, data: eth(0x86dd, ipv6(V6SRC, 17, udp(6666, 6666, P2)), true) }
    ]))
    const r = readCapture(file)
    const got = await collect(r)
    assert.equal(r.format, 'pcap')
    assert.equal(got.length, 2)
    assert.deepEqual({ ...got[0], payload: got[0]!.payload.toString() }, {
      tMs: 0, epochMs: 1000000.5, src: '::ffff:10.1.2.3', srcPort: 6665, dstPort: 6666, payload: P1.toString()
    })
    assert.equal(got[1]!.src, '2001:db8::42')
    assert.equal(got[1]!.srcPort, 6666)
    assert.equal(got[1]!.tMs, 1000)
    assert.deepEqual(got[1]!.payload, P2)
    assert.equal(r.skipped.not_udp, 1)
    assert.equal(r.skipped.ip_fragment, 1)
    assert.equal(r.skipped.not_ip, 1)
  })
})

test('pcap big-endian, nanosecond, Linux cooked SLL and SLL2, raw IP, dstPort filter, snaplen truncation', async () => {
  await withTmp(async (dir) => {
    const a = join(dir, 'sll.pcap')
    await writeFile(a, pcap(113, [
      { sec: 5, usec: 250_000_000, data: sll(0x0800, ipv4([192, 168, 0, 9], 17, udp(1234, 6666, P1))) },
      { sec: 5, usec: 750_000_000, data: sll(0x0800, ipv4([192, 168, 0, 9], 17, udp(1234, 53, P2))) }
    ], { be: true, nanos: true }))
    const ra = readCapture(a, { dstPort: 6666 })
    const ga = await collect(ra)
    assert.equal(ga.length, 1)
    assert.equal(ga[0]!.src, '::ffff:192.168.0.9')
    assert.equal(ga[0]!.epochMs, 5250)
    assert.equal(ra.skipped.port_filter, 1)

    const b = join(dir, 'sll2.pcap')
    await writeFile(b, pcap(276, [{ sec: 1, usec: 0, data: sll2(0x86dd, ipv6(V6SRC, 17, udp(9, 6666, P2))) }]))
    const gb = await collect(readCapture(b))
    assert.equal(gb[0]!.src, '2001:db8::42')
    assert.deepEqual(gb[0]!.payload, P2)

    const c = join(dir, 'raw.pcap')
    const full = ipv4([1, 2, 3, 4], 17, udp(9, 6666, P1))
    await writeFile(c, pcap(101, [
      { sec: 1, usec: 0, data: full },
      { sec: 1, usec: 1, data: full.subarray(0, full.length - 3), orig: full.length }
    ]))
    const rc = readCapture(c)
    const gc = await collect(rc)
    assert.equal(gc.length, 1)
    assert.equal(gc[0]!.src, '::ffff:1.2.3.4')
    assert.equal(rc.skipped.truncated, 1)
  })
})

test('pcapng: SHB/IDB/EPB, if_tsresol, two interfaces, big-endian section, unsupported link type', async () => {
  await withTmp(async (dir) => {
    const file = join(dir, 'a.pcapng')
    const nameRes = block(4, Buffer.alloc(4))
    await writeFile(file, Buffer.concat([
      shb(),
      idb(1), // µs (default resolution)
      idb(113, 9), // ns
      idb(147), // a link type we do not decode
      epb(0, 2_000_000n, eth(0x0800, ipv4([10, 0, 0, 7], 17, udp(6665, 6666, P1)))),
      nameRes,
      epb(1, 2_500_000_000n, sll(0x0800, ipv4([10, 0, 0, 8], 17, udp(6665, 6666, P2)))),
      epb(2, 2_000_600n, Buffer.alloc(10)),
      // a new, big-endian section: interface ids restart
      shb(true),
      idb(101, undefined, true),
      epb(0, 3_000_000n, ipv6(V6SRC, 17, udp(7, 6666, P1), Buffer.from([17, 0, 1, 4, 0, 0, 0, 0])), true)
    ]))
    const r = readCapture(file)
    const got = await collect(r)
    assert.equal(r.format, 'pcapng')
    assert.deepEqual(got.map((d) => [d.src, d.tMs, d.payload.toString()]), [
      ['::ffff:10.0.0.7', 0, P1.toString()],
      ['::ffff:10.0.0.8', 500, P2.toString()],
      ['2001:db8::42', 1000, P1.toString()]
    ])
    assert.equal(r.skipped.unsupported_linktype, 1)
  })
})

test('a pcap cut in the middle of a record is an error with a code', async () => {
  await withTmp(async (dir) => {
    const file = join(dir, 'cut.pcap')
    const whole = pcap(1, [{ sec: 1, usec: 0, data: eth(0x0800, ipv4([1, 1, 1, 1], 17, udp(1, 2, P1))) }])
    await writeFile(file, whole.subarray(0, whole.length - 5))
    await assert.rejects(collect(readCapture(file)), { code: 'NETCONSD_ERR_CAPTURE_READ' })
    await assert.rejects(collect(readCapture(join(dir, 'missing.pcap'))), { code: 'NETCONSD_ERR_CAPTURE_READ' })
  })
})

test('JSONL: default source, src/port keys, address normalisation, blank lines', async () => {
  await withTmp(async (dir) => {
    const file = join(dir, 'a.jsonl')
    await writeFile(file, [
      JSON.stringify({ i: 0, t_ms: 0, b64: P1.toString('base64') }),
      '',
      JSON.stringify({ i: 1, t_ms: 1.5, b64: P2.toString('base64'), src: '10.9.9.9', port: 7777 }),
      JSON.stringify({ i: 2, t_ms: 2 }),
      JSON.stringify({ i: 3, t_ms: 3, b64: '', src: 'not-an-address' })
    ].join('\n'))
    const r = readCapture(file)
    const got = await collect(r)
    assert.equal(r.format, 'jsonl')
    assert.deepEqual(got.map((d) => [d.tMs, d.src, d.srcPort, d.payload.toString()]), [
      [0, '::ffff:127.0.0.1', 6665, P1.toString()],
      [1.5, '::ffff:10.9.9.9', 7777, P2.toString()]
    ])
    assert.equal(r.skipped.bad_line, 2)
  })
  await withTmp(async (dir) => {
    const file = join(dir, 'bad.jsonl')
    await writeFile(file, '{"i":0,"t_ms":0,"b64":""}\n{oops\n')
    await assert.rejects(collect(readCapture(file)), { code: 'NETCONSD_ERR_CAPTURE_READ', line: 2 })
  })
})

test('the shared kernel captures read completely', async () => {
  const dir = join(kernelFixturesDir, '6.12-ext-basic')
  const lines = (await readFile(join(dir, 'payloads.jsonl'), 'utf8')).split('\n').filter((l) => l !== '')
  const got = await collect(readCapture(join(dir, 'payloads.jsonl')))
  assert.equal(got.length, lines.length)
  assert.ok(got[0]!.payload.toString().startsWith('5,0,0,-;Linux version'))
  for (let i = 1; i < got.length; i++) assert.ok(got[i]!.tMs >= got[i - 1]!.tMs)
})

test('decodeLink never throws on arbitrary bytes', async () => {
  const fc = await import('fast-check')
  const skipped = { not_ip: 0, not_udp: 0, ip_fragment: 0, truncated: 0, unsupported_linktype: 0, port_filter: 0, bad_line: 0 }
  fc.assert(fc.property(fc.constantFrom(0, 1, 101, 108, 113, 228, 229, 276, 999), fc.uint8Array({ maxLength: 120 }), (lt, bytes) => {
    decodeLink(lt, Buffer.from(bytes), false, skipped)
  }), { numRuns: 2000 })
})
