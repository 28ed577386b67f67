/**
 * Reads recorded netconsole traffic: the JSONL captures of `test/fixtures/kernel` and
 * pcap / pcapng files of UDP datagrams (tcpdump, Wireshark, dumpcap).
 *
 *   capture file ──► format sniffed from the first bytes ──► { tMs, src, srcPort, payload } ...
 *
 * Files are streamed in chunks, never read whole, so a multi-gigabyte capture replays in
 * bounded memory. Packets that are not usable netconsole datagrams (not UDP, IP fragments,
 * truncated by the snap length, unknown link types) are skipped and counted by reason in
 * `reader.skipped`, never silently lost.
 */
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { createReadStream } from 'node:fs'
import { formatAddress, parseAddress } from '../ingest/batch.js'
import { NetconsdError } from '../errors.js'

export interface CapturedDatagram {
  /** Milliseconds since the first datagram of the capture (fractional). */
  tMs: number
  /** Sender address as an IPv6 string (IPv4 as `::ffff:a.b.c.d`), as Node's dgram reports it. */
  src: string
  srcPort: number
  payload: Buffer
  /** Wall-clock capture time, ms since the epoch; pcap/pcapng only (JSONL captures carry none). */
  epochMs?: number
  /** Destination UDP port; pcap/pcapng only. */
  dstPort?: number
}

export type CaptureFormat = 'jsonl' | 'pcap' | 'pcapng'

/** Why a captured packet was not returned. */
export type CaptureSkipReason =
  | 'not_ip' | 'not_udp' | 'ip_fragment' | 'truncated' | 'unsupported_linktype' | 'port_filter' | 'bad_line'

export interface CaptureReadOptions {
  /** Only return datagrams sent to this UDP destination port (pcap/pcapng; JSONL has no ports). */
  dstPort?: number
  /** Sender for JSONL lines without `src` (default `::ffff:127.0.0.1`, as the fixtures were recorded). */
  defaultSrc?: string
  /** Sender port for JSONL lines without `port` (default 6665, netconsole's default local port). */
  defaultSrcPort?: number
}

export interface CaptureReader extends AsyncIterable<CapturedDatagram> {
  /** Packets skipped so far, by reason. */
  readonly skipped: Record<CaptureSkipReason, number>
  /** Sniffed format; known once iteration has started. */
  readonly format: CaptureFormat | null
}

const CHUNK = 1 << 20

/** Opens a capture for streaming. The format is sniffed from the first bytes, not the file name. */
export function readCapture (path: string, opts: CaptureReadOptions = {}): CaptureReader {
  const skipped: Record<CaptureSkipReason, number> = {
    not_ip: 0, not_udp: 0, ip_fragment: 0, truncated: 0, unsupported_linktype: 0, port_filter: 0, bad_line: 0
  }
  const reader = {
    skipped,
    format: null as CaptureFormat | null,
    async * [Symbol.asyncIterator] (): AsyncGenerator<CapturedDatagram> {
      let fh: FileHandle
      try {
        fh = await open(path, 'r')
      } catch (err) {
        throw new NetconsdError('NETCONSD_ERR_CAPTURE_READ', `Cannot open capture ${path}.`, { file: path }, { cause: err })
      }
      let magic: Buffer
      try {
        magic = Buffer.alloc(4)
        const { bytesRead } = await fh.read(magic, 0, 4, 0)
        magic = magic.subarray(0, bytesRead)
      } catch (err) {
        await fh.close()
        throw new NetconsdError('NETCONSD_ERR_CAPTURE_READ', `Cannot read capture ${path}.`, { file: path }, { cause: err })
      }
      const format = sniff(magic)
      reader.format = format
      if (format === 'jsonl') {
        await fh.close()
        yield * readJsonl(path, opts, skipped)
        return
      }
      const src = new ChunkReader(fh, path)
      try {
        if (format === 'pcap') yield * readPcap(src, path, opts, skipped)
        else yield * readPcapng(src, path, opts, skipped)
      } finally {
        await fh.close()
      }
    }
  }
  return reader
}

function sniff (magic: Buffer): CaptureFormat {
  if (magic.length === 4) {
    const le = magic.readUInt32LE(0)
    if (le === 0x0a0d0d0a) return 'pcapng'
    if (le === 0xa1b2c3d4 || le === 0xa1b23c4d || le === 0xd4c3b2a1 || le === 0x4d3cb2a1) return 'pcap'
  }
  return 'jsonl'
}

// ─── JSONL ───────────────────────────────────────────────────────────────────────────────────

async function * readJsonl (path: string, opts: CaptureReadOptions, skipped: Record<CaptureSkipReason, number>): AsyncGenerator<CapturedDatagram> {
  const defaultSrc = normaliseAddress(opts.defaultSrc ?? '::ffff:127.0.0.1') ?? '::ffff:127.0.0.1'
  const defaultPort = opts.defaultSrcPort ?? 6665
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity })
  let lineNo = 0
  for await (const line of rl) {
    lineNo++
    if (line.trim() === '') continue
    let obj: unknown
    try {
      obj = JSON.parse(line)
    } catch (err) {
      rl.close()
      throw new NetconsdError('NETCONSD_ERR_CAPTURE_READ', `${path}:${lineNo}: not a JSON line.`, { file: path, line: lineNo }, { cause: err })
    }
    if (typeof obj !== 'object' || obj === null) { skipped.bad_line++; continue }
    const o = obj as Record<string, unknown>
    if (typeof o.b64 !== 'string') { skipped.bad_line++; continue }
    const tMs = typeof o.t_ms === 'number' ? o.t_ms : 0
    let src = defaultSrc
    if (typeof o.src === 'string') {
      const n = normaliseAddress(o.src)
      if (n === null) { skipped.bad_line++; continue }
      src = n
    }
    const srcPort = typeof o.port === 'number' ? o.port : defaultPort
    yield { tMs, src, srcPort, payload: Buffer.from(o.b64, 'base64') }
  }
}

const addrScratch = new Uint8Array(16)

function normaliseAddress (s: string): string | null {
  return parseAddress(s, addrScratch, 0) ? formatAddress(addrScratch, 0) : null
}

// ─── Chunked file reader ─────────────────────────────────────────────────────────────────────

class ChunkReader {
  #fh: FileHandle
  #path: string
  #buf: Buffer = Buffer.alloc(0)
  #pos = 0 // read position inside #buf
  #filePos = 0
  #eof = false

  constructor (fh: FileHandle, path: string) {
    this.#fh = fh
    this.#path = path
  }

  /** Returns exactly `n` bytes, or null at a clean end of file; throws on a file cut mid-record. */
  async take (n: number): Promise<Buffer | null> {
    while (this.#buf.length - this.#pos < n && !this.#eof) {
      const rest = this.#buf.subarray(this.#pos)
      const chunk = Buffer.allocUnsafe(Math.max(CHUNK, n - rest.length))
      let bytesRead: number
      try {
        ({ bytesRead } = await this.#fh.read(chunk, 0, chunk.length, this.#filePos))
      } catch (err) {
        throw new NetconsdError('NETCONSD_ERR_CAPTURE_READ', `Cannot read capture ${this.#path}.`, { file: this.#path }, { cause: err })
      }
      if (bytesRead === 0) this.#eof = true
      this.#filePos += bytesRead
      this.#buf = Buffer.concat([rest, chunk.subarray(0, bytesRead)])
      this.#pos = 0
    }
    const avail = this.#buf.length - this.#pos
    if (avail === 0 && this.#eof) return null
    if (avail < n) {
      throw new NetconsdError('NETCONSD_ERR_CAPTURE_READ',
        `Capture ${this.#path} ends in the middle of a record (wanted ${n} bytes, ${avail} left).`, { file: this.#path })
    }
    const out = this.#buf.subarray(this.#pos, this.#pos + n)
    this.#pos += n
    return out
  }

  bad (what: string): NetconsdError {
    return new NetconsdError('NETCONSD_ERR_CAPTURE_READ', `Capture ${this.#path}: ${what}.`, { file: this.#path })
  }
}

// ─── pcap (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html) ──────────────────

async function * readPcap (r: ChunkReader, path: string, opts: CaptureReadOptions, skipped: Record<CaptureSkipReason, number>): AsyncGenerator<CapturedDatagram> {
  const hdr = await r.take(24)
  if (hdr === null) return
  const m = hdr.readUInt32LE(0)
  const le = m === 0xa1b2c3d4 || m === 0xa1b23c4d
  const nanos = m === 0xa1b23c4d || m === 0x4d3cb2a1
  const u32 = (b: Buffer, o: number): number => le ? b.readUInt32LE(o) : b.readUInt32BE(o)
  // LinkType is the low 16 bits of the last field; the upper bits carry the FCS length.
  const linkType = u32(hdr, 20) & 0xffff
  let firstMs: number | null = null
  for (;;) {
    const rh = await r.take(16)
    if (rh === null) return
    const sec = u32(rh, 0)
    const frac = u32(rh, 4)
    const incl = u32(rh, 8)
    const orig = u32(rh, 12)
    if (incl > 0x4000000) throw r.bad(`record length ${incl} is not plausible (corrupt file?)`)
    const data = await r.take(incl)
    if (data === null) throw r.bad('record header without data')
    const epochMs = sec * 1000 + (nanos ? frac / 1e6 : frac / 1e3)
    firstMs ??= epochMs
    const d = decodeLink(linkType, data, incl < orig, skipped)
    if (d === null) continue
    if (opts.dstPort !== undefined && d.dstPort !== opts.dstPort) { skipped.port_filter++; continue }
    yield { tMs: epochMs - firstMs, epochMs, src: d.src, srcPort: d.srcPort, dstPort: d.dstPort, payload: d.payload }
  }
  void path
}

// ─── pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html) ──────────────

interface PcapngIface { linkType: number, tsUnitsPerSec: number }

async function * readPcapng (r: ChunkReader, path: string, opts: CaptureReadOptions, skipped: Record<CaptureSkipReason, number>): AsyncGenerator<CapturedDatagram> {
  let le = true
  let ifaces: PcapngIface[] = []
  let firstMs: number | null = null
  const u32 = (b: Buffer, o: number): number => le ? b.readUInt32LE(o) : b.readUInt32BE(o)
  const u16 = (b: Buffer, o: number): number => le ? b.readUInt16LE(o) : b.readUInt16BE(o)
  for (;;) {
    const bh = await r.take(8)
    if (bh === null) return
    const rawType = bh.readUInt32LE(0)
    if (rawType === 0x0a0d0d0a) {
      // Section Header Block: the byte-order magic decides the endianness of this section.
      const bom = await r.take(4)
      if (bom === null) throw r.bad('section header cut short')
      if (bom.readUInt32LE(0) === 0x1a2b3c4d) le = true
      else if (bom.readUInt32BE(0) === 0x1a2b3c4d) le = false
      else throw r.bad('bad pcapng byte-order magic')
      const total = u32(bh, 4)
      if (total < 28 || total % 4 !== 0) throw r.bad(`bad section header length ${total}`)
      await r.take(total - 12)
      ifaces = [] // interface ids are per section
      continue
    }
    const type = u32(bh, 0)
    const total = u32(bh, 4)
    if (total < 12 || total % 4 !== 0 || total > 0x4000000) throw r.bad(`bad block length ${total}`)
    const body = await r.take(total - 8)
    if (body === null) throw r.bad('block cut short')
    // body = block body + trailing 4-byte length copy
    if (type === 1) {
      // Interface Description Block: LinkType(2) reserved(2) SnapLen(4) options...
      const iface: PcapngIface = { linkType: u16(body, 0), tsUnitsPerSec: 1e6 }
      let o = 8
      while (o + 4 <= body.length - 4) {
        const code = u16(body, o)
        const len = u16(body, o + 2)
        if (code === 0) break
        if (code === 9 && len >= 1) {
          // if_tsresol: high bit set = negative power of 2, else negative power of 10.
          const v = body[o + 4]!
          iface.tsUnitsPerSec = (v & 0x80) !== 0 ? 2 ** (v & 0x7f) : 10 ** v
        }
        o += 4 + ((len + 3) & ~3)
      }
      ifaces.push(iface)
    } else if (type === 6 || type === 2) {
      // Enhanced Packet Block (6): ifid(4) tsHigh(4) tsLow(4) capLen(4) origLen(4) data
      // obsolete Packet Block (2): ifid(2) drops(2) tsHigh(4) tsLow(4) capLen(4) origLen(4) data
      const ifid = type === 6 ? u32(body, 0) : u16(body, 0)
      const iface = ifaces[ifid]
      if (iface === undefined) throw r.bad(`packet for undeclared interface ${ifid}`)
      const ts = u32(body, 4) * 2 ** 32 + u32(body, 8)
      const cap = u32(body, 12)
      const orig = u32(body, 16)
      if (20 + cap > body.length - 4) throw r.bad('packet block shorter than its captured length')
      const epochMs = ts / iface.tsUnitsPerSec * 1000
      yield * emit(iface.linkType, body.subarray(20, 20 + cap), cap < orig, epochMs)
    } else if (type === 3) {
      // Simple Packet Block: origLen(4) data, no timestamp, always interface 0.
      const iface = ifaces[0]
      if (iface === undefined) throw r.bad('simple packet block without an interface')
      const orig = u32(body, 0)
      const cap = Math.min(orig, body.length - 8)
      yield * emit(iface.linkType, body.subarray(4, 4 + cap), cap < orig, firstMs ?? 0)
    }
    // Other blocks (name resolution, statistics, custom, ...) carry no packets.
  }

  function * emit (linkType: number, data: Buffer, truncated: boolean, epochMs: number): Generator<CapturedDatagram> {
    firstMs ??= epochMs
    const d = decodeLink(linkType, data, truncated, skipped)
    if (d === null) return
    if (opts.dstPort !== undefined && d.dstPort !== opts.dstPort) { skipped.port_filter++; return }
    yield { tMs: epochMs - firstMs, epochMs, src: d.src, srcPort: d.srcPort, dstPort: d.dstPort, payload: d.payload }
  }
  void path
}

// ─── Link, IP and UDP layers ─────────────────────────────────────────────────────────────────

interface Decoded { src: string, srcPort: number, dstPort: number, payload: Buffer }

// LINKTYPE_* values from https://www.tcpdump.org/linktypes.html
const LINKTYPE_NULL = 0
const LINKTYPE_ETHERNET = 1
const LINKTYPE_RAW = 101
const LINKTYPE_LINUX_SLL = 113
const LINKTYPE_IPV4 = 228
const LINKTYPE_IPV6 = 229
const LINKTYPE_LINUX_SLL2 = 276
const LINKTYPE_LOOP = 108

const ETH_IPV4 = 0x0800
const ETH_IPV6 = 0x86dd

/** Exported for tests. Returns the UDP datagram in a link-layer frame, or null (counted in `skipped`). */
export function decodeLink (linkType: number, f: Buffer, truncated: boolean, skipped: Record<CaptureSkipReason, number>): Decoded | null {
  let etherType: number
  let off: number
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (f.length < 14) { skipped.truncated++; return null }
      etherType = f.readUInt16BE(12)
      off = 14
      // 802.1Q / 802.1ad VLAN tags, possibly stacked (QinQ).
      while ((etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100) && f.length >= off + 4) {
        etherType = f.readUInt16BE(off + 2)
        off += 4
      }
      break
    }
    case LINKTYPE_LINUX_SLL:
      if (f.length < 16) { skipped.truncated++; return null }
      etherType = f.readUInt16BE(14); off = 16
      break
    case LINKTYPE_LINUX_SLL2:
      if (f.length < 20) { skipped.truncated++; return null }
      etherType = f.readUInt16BE(0); off = 20
      break
    case LINKTYPE_RAW: case 12: case 14: case LINKTYPE_IPV4: case LINKTYPE_IPV6:
      // Raw IP: the version nibble says which.
      if (f.length < 1) { skipped.truncated++; return null }
      etherType = (f[0]! >> 4) === 6 ? ETH_IPV6 : ETH_IPV4; off = 0
      break
    case LINKTYPE_NULL: case LINKTYPE_LOOP: {
      // BSD loopback: a 4-byte address family, host byte order for NULL, network order for LOOP.
      if (f.length < 4) { skipped.truncated++; return null }
      const ver = f.length > 4 ? f[4]! >> 4 : 0
      etherType = ver === 6 ? ETH_IPV6 : ver === 4 ? ETH_IPV4 : 0; off = 4
      break
    }
    default:
      skipped.unsupported_linktype++
      return null
  }
  if (etherType === ETH_IPV4) return decodeIpv4(f, off, truncated, skipped)
  if (etherType === ETH_IPV6) return decodeIpv6(f, off, truncated, skipped)
  skipped.not_ip++
  return null
}

function decodeIpv4 (f: Buffer, off: number, truncated: boolean, skipped: Record<CaptureSkipReason, number>): Decoded | null {
  if (f.length < off + 20 || (f[off]! >> 4) !== 4) { skipped[f.length < off + 20 ? 'truncated' : 'not_ip']++; return null }
  const ihl = (f[off]! & 0x0f) * 4
  const totalLen = f.readUInt16BE(off + 2)
  const fragField = f.readUInt16BE(off + 6)
  // More-fragments flag or a non-zero offset: part of a fragmented datagram. netconsole keeps
  // datagrams under the MTU, so reassembling IP here would be effort for a case that does not occur.
  if ((fragField & 0x2000) !== 0 || (fragField & 0x1fff) !== 0) { skipped.ip_fragment++; return null }
  if (f[off + 9] !== 17) { skipped.not_udp++; return null }
  const src = `::ffff:${f[off + 12]!}.${f[off + 13]!}.${f[off + 14]!}.${f[off + 15]!}`
  const end = Math.min(f.length, off + totalLen)
  return decodeUdp(f, off + ihl, end, off + totalLen > f.length || truncated, src, skipped)
}

function decodeIpv6 (f: Buffer, off: number, truncated: boolean, skipped: Record<CaptureSkipReason, number>): Decoded | null {
  if (f.length < off + 40 || (f[off]! >> 4) !== 6) { skipped[f.length < off + 40 ? 'truncated' : 'not_ip']++; return null }
  const payloadLen = f.readUInt16BE(off + 4)
  let next = f[off + 6]!
  const src = formatAddress(f, off + 8)
  const end = Math.min(f.length, off + 40 + payloadLen)
  let p = off + 40
  // Walk extension headers (RFC 8200 §4): hop-by-hop 0, routing 43, destination options 60.
  for (;;) {
    if (next === 17) break
    if (next === 44) { skipped.ip_fragment++; return null }
    if (next === 0 || next === 43 || next === 60) {
      if (p + 2 > end) { skipped.truncated++; return null }
      const n = f[p]!
      p += (f[p + 1]! + 1) * 8
      next = n
      continue
    }
    skipped.not_udp++
    return null
  }
  return decodeUdp(f, p, end, off + 40 + payloadLen > f.length || truncated, src, skipped)
}

function decodeUdp (f: Buffer, off: number, end: number, truncated: boolean, src: string, skipped: Record<CaptureSkipReason, number>): Decoded | null {
  if (off + 8 > end) { skipped.truncated++; return null }
  const udpLen = f.readUInt16BE(off + 4)
  // Whether the frame was cut by the snap length matters only if the cut reaches the UDP payload.
  if (udpLen < 8 || off + udpLen > end) { skipped.truncated++; return null }
  void truncated
  return {
    src,
    srcPort: f.readUInt16BE(off),
    dstPort: f.readUInt16BE(off + 2),
    // Copy: consumers may keep payloads (held fragments) and must not pin a 1 MiB read chunk.
    payload: Buffer.from(f.subarray(off + 8, off + udpLen))
  }
}
