/**
 * The per-host receive state machine ("ncrx", after netconsd's libncrx): reorder by printk
 * sequence number, reassemble `ncfrag` fragments, skip gaps after a timeout, tell duplicates from
 * out-of-sequence packets, and restart the stream when the sender rebooted.
 *
 *   datagram ─► parse ─► Ncrx.receive ─┬─ seq == next, whole ──────────► deliverDirect (no copy kept)
 *                                      ├─ in window (gap / reorder / fragment) ─► slot ─► retire ─► deliverHeld
 *                                      ├─ too old or too far ──────────► OOS list (held oosTimeoutMs) ─► deliverHeld(oos)
 *                                      └─ recently delivered seq ─────► duplicate (counted)
 *
 * Semantics follow netconsd's libncrx with netconsd's parameters (see `defaultNcrxConfig`), with
 * these deliberate differences (each fixes a bug or adds accounting):
 * - Every skipped seq is counted: the next record in the ordered stream carries `lostBefore`.
 * - Fragments are tracked with a per-byte bitmap, not "0 byte = missing"; a fragment whose total
 *   disagrees with the first fragment's is dropped (`seq_conflict`), never merged.
 * - An incomplete record delivered at timeout is flagged `incomplete`; its text is the bytes that
 *   did arrive, in order (the holes are left out).
 * - The OOS list is keyed by seq: a second copy is a duplicate and fragments of one seq merge, so a
 *   stream reset never overwrites or leaks a slot (netconsd bug, spec §13).
 * - A seq below the window counts as a duplicate only if it was *delivered* (not skipped) recently;
 *   a late arrival of a skipped seq is delivered as `oos` instead of being dropped.
 * - The OOS history is cleared at a reset, so one stray old packet right after a reboot does not
 *   restart the new stream again.
 * - Held bytes per host are capped (`maxHeldBytesPerHost`): beyond it the oldest held message is
 *   released early (counted as `held_bytes_cap`).
 *
 * Pure code: no timers, no I/O; the caller passes monotonic ms in and calls `runTimers` at
 * `deadline()`. Not re-entrant: deliver* must not call back into the same instance.
 */
import type { NcrxConfig } from '../config/types.js'
import type { ParsedHeader } from './parse.js'
import { copyBytes } from './decode.js'

const EMPTY = Buffer.alloc(0)

/** netconsd's parameters (spec §4.1) plus our memory bounds. */
export const defaultNcrxConfig: Readonly<NcrxConfig> = Object.freeze({
  slots: 512,
  gapTimeoutMs: 200,
  retxStride: 256,
  oosThreshold: 19,
  oosWindowMs: 5000,
  oosTimeoutMs: 200,
  // netconsd stops at 8192; real 6.1 records (8192 before extras) plus userdata/sysdata exceed it.
  maxMessageBytes: 65536,
  // netconsd has no cap; ~0.7 KiB per idle host, so this bounds a spoofed-source flood to ~23 MiB per worker.
  maxHosts: 32768,
  maxHeldBytesPerHost: 1024 * 1024,
  // All hosts of one worker together: spoofed sources cannot multiply the per-host cap.
  maxHeldBytes: 16 * 1024 * 1024,
  // netconsd's GC is off by default (`-g 0/0`); maxHosts bounds memory instead.
  gcIntervalMs: 0,
  gcAgeMs: 0
})

/** libncrx keeps at most 32 out-of-sequence copies (NCRX_OOS_MAX, sized to the 32-bit history). */
export const OOS_MAX = 32

/** Reasons in `NcrxCounters.drops` (stable strings, used as metric labels). */
export const DropReason = {
  /** A fragment or message whose shape disagrees with what is held for its seq (different ncfrag total, whole vs fragment). */
  seqConflict: 'seq_conflict',
  /** A held message released (or a gap skipped) early because the host held more than maxHeldBytesPerHost. */
  heldBytesCap: 'held_bytes_cap',
  /** A held message released (or a gap skipped) early because the worker held more than ncrx.maxHeldBytes over all hosts (oldest host first). */
  heldBytesGlobal: 'held_bytes_global',
  /** More than OOS_MAX out-of-sequence messages held: the oldest was delivered early. */
  oosOverflow: 'oos_overflow',
  /** A host was evicted (least recently seen) because maxHosts was reached; its held messages were delivered first. */
  hostEvicted: 'host_evicted'
} as const
export type DropReason = typeof DropReason[keyof typeof DropReason]

/** Counters of one HostTable (all its hosts). Plain numbers, updated in place. */
export interface NcrxCounters {
  /** Datagrams handed to receive(). */
  datagrams: number
  /** Datagrams parsed as extended netconsole (fragments included). */
  extended: number
  /** Datagrams handled as legacy (plain console text); one record each. */
  legacy: number
  /** Extended datagrams carrying `ncfrag`. */
  fragments: number
  /** Datagrams skipped as malformed, by reason (see parse.ts). */
  malformed: Record<string, number>
  /** Records emitted (extended and legacy). */
  delivered: number
  /** Datagrams discarded as copies of something already held or delivered. */
  duplicates: number
  /** Records delivered with `oos` (outside the ordered stream). */
  oos: number
  /** Sequence numbers skipped (never received before their gap timed out, or abandoned at a reset/flush). */
  lost: number
  /** Stream restarts after a host's first message (reboots, OOS resets). */
  resets: number
  /** Records delivered with `incomplete` (fragments missing at timeout). */
  incomplete: number
  /** Discards and early releases, by reason (see DropReason). */
  drops: Record<string, number>
  /** Host states created (a host forgotten by GC or evicted and seen again counts again). */
  hostsSeen: number
  /** Hosts currently tracked (gauge). */
  hosts: number
  /** Messages held in reorder windows, fragment buffers and OOS lists (gauge). */
  heldMessages: number
  /** Body bytes of those messages (gauge). */
  heldBytes: number
  /** Hosts forgotten by idle GC. */
  hostsForgotten: number
}

export function newNcrxCounters (malformedReasons: readonly string[] = []): NcrxCounters {
  const malformed: Record<string, number> = {}
  for (const r of malformedReasons) malformed[r] = 0
  const drops: Record<string, number> = {}
  for (const r of Object.values(DropReason)) drops[r] = 0
  return {
    datagrams: 0,
    extended: 0,
    legacy: 0,
    fragments: 0,
    malformed,
    delivered: 0,
    duplicates: 0,
    oos: 0,
    lost: 0,
    resets: 0,
    incomplete: 0,
    drops,
    hostsSeen: 0,
    hosts: 0,
    heldMessages: 0,
    heldBytes: 0,
    hostsForgotten: 0
  }
}

/** A message copied out of its datagram(s) because it has to wait. */
export class HeldMsg {
  facility = 0
  level = 0
  tsUsec = -1
  contStart = false
  cont = false
  emg = false
  seqReset = false
  release: string | null = null
  /**
   * Escaped body bytes. For fragments: empty until every byte arrived, then the whole record
   * (assembled once). Until then the bytes live in `pieces`, so memory follows what arrived, not
   * what a header claims (`ncfrag=0/65536` with one byte holds one byte, not 64 KiB).
   */
  body: Buffer
  /** The record's declared length: body.length for whole messages, the ncfrag total for fragments. */
  total: number
  /** Bytes still missing (0 = complete). */
  missing = 0
  /** Arrived fragment ranges, sorted by offset, never overlapping; null for unfragmented messages. */
  pieces: Piece[] | null = null
  /** What this message counts in held bytes: its bytes plus PIECE_OVERHEAD per piece. */
  cost: number
  srcPort = 0
  /** Wall-clock ms of the last datagram. */
  rxReal = 0
  /** Monotonic ms of the first datagram (OOS hold time is measured from it). */
  rxMono = 0
  /**
   * A whole message decoded when it arrived (`Ncrx.prepare`), delivered as it is once its turn
   * comes: a record held behind a gap costs what an in-order one costs, no copy and no second
   * decode (`body` stays empty). Null for fragments, which are decoded once complete.
   */
  pre: object | null = null

  constructor (readonly seq: number, body: Buffer, total = body.length) {
    this.body = body
    this.total = total
    this.cost = body.length + MSG_OVERHEAD
  }

  /** The bytes that arrived, holes left out (for incomplete delivery). Cost: the bytes held. */
  receivedBytes (): Buffer {
    const pieces = this.pieces
    if (pieces === null || this.missing === 0) return this.body
    return Buffer.concat(pieces.map((p) => p.buf))
  }
}

/** One arrived range of a fragmented message. */
interface Piece { off: number, buf: Buffer }

/**
 * Held-bytes charge per fragment piece beyond its bytes (object, array slot, Buffer header), so a
 * flood of 1-byte fragments is bounded by the byte caps like any other.
 */
export const PIECE_OVERHEAD = 64

/**
 * Held-bytes charge per held message beyond its bytes (the HeldMsg, its window slot and map
 * entry: ~530 bytes measured with a one-byte fragment), so many tiny held messages from many
 * spoofed hosts are bounded by ncrx.maxHeldBytes too.
 */
export const MSG_OVERHEAD = 512

/**
 * Held-bytes charge per reorder-window position while a host's window is allocated (its entry in
 * the message ring and its timestamp), so gaps count too: a sender that opens a gap of hundreds
 * of seqs is bounded by the byte caps like one that sends hundreds of messages.
 */
export const WINDOW_SLOT_BYTES = 16

/** Smallest reorder ring (positions); it doubles up to the window's size when a gap is wider. */
export const MIN_RING = 16

const CKPT_CAP = 12

function popcount32 (x: number): number {
  x = x - ((x >>> 1) & 0x55555555)
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333)
  x = (x + (x >>> 4)) & 0x0f0f0f0f
  return Math.imul(x, 0x01010101) >>> 24
}

export abstract class Ncrx {
  /** Next expected seq; -1 = no stream yet. */
  headSeq = -1
  /** Oldest seq still held; queued = headSeq − tailSeq. */
  tailSeq = 0
  /** First seq of the current stream (older seqs were never part of it). */
  streamStart = 0
  /**
   * Held window [tailSeq, headSeq), only while something is held: a ring indexed by seq & mask,
   * a message (maybe partial) or null for a gap, and per position the monotonic ms of its last
   * activity (the gap timeout is measured from it). No object per position.
   */
  #ring: Array<HeldMsg | null> | null = null
  #ringTs: Float64Array | null = null
  #mask = 0
  /** Out-of-sequence messages, arrival order, at most OOS_MAX. */
  #oos: HeldMsg[] = []
  /** 1 bit per parsed packet, set when it was out of sequence; the last 32. */
  #oosHist = 0
  /** Seqs skipped since the last record of the ordered stream. */
  #pendingLost = 0
  /** The next record of the ordered stream starts a stream (first message, or after a reset). */
  #resetPending = false
  /** Bit (seq % slots) set when that retired seq was skipped, clear when delivered. Allocated on the first skip. */
  #skipBits: Uint8Array | null = null
  /**
   * When recent seqs were delivered: ring of (seq, monotonic ms) pairs, one per `oosWindowMs/10`.
   * A seq delivered between checkpoints k and k+1 was delivered within that interval, so its age is
   * known to within a tenth of the window; the error errs toward "not recent" (delivered as oos,
   * never wrongly dropped). Replaces netconsd's per-slot timestamps (4 KiB/host) with 192 bytes.
   */
  #ckpt: Float64Array | null = null
  #ckptLen = 0
  #ckptNext = 0

  /** Held body bytes / messages of this host. */
  heldBytes = 0
  heldMessages = 0
  // Per-host totals.
  lost = 0
  duplicates = 0
  oos = 0
  resets = 0
  delivered = 0
  incomplete = 0
  /** Cached release string (hosts repeat the same release on every datagram). */
  #releaseStr: string | null = null
  #releaseBytes: Uint8Array | null = null

  constructor (readonly cfg: Readonly<NcrxConfig>, readonly counters: NcrxCounters) {}

  /** A whole in-order message, straight from its datagram (nothing was copied). */
  protected abstract deliverDirect (h: ParsedHeader, payload: Uint8Array, end: number, nowReal: number, srcPort: number, release: string | null, seqReset: boolean, lostBefore: number): void
  /** A held message. */
  protected abstract deliverHeld (m: HeldMsg, oos: boolean, incomplete: boolean, lostBefore: number): void
  /**
   * Decodes a whole message that has to wait (a gap before it, or out of sequence) into what
   * `deliverHeld` will hand out, while its datagram is still there (`m.pre`). The flags that depend
   * on how it leaves (oos, seqReset, lostBefore) are set by `deliverHeld`.
   */
  protected abstract prepare (h: ParsedHeader, payload: Uint8Array, end: number, nowReal: number, srcPort: number, release: string | null): object
  /** Something was discarded or released early. */
  protected abstract dropped (reason: string, count: number): void

  /** Monotonic ms at which runTimers must be called, or Infinity when nothing is held. */
  deadline (): number {
    let d = Infinity
    if (this.tailSeq < this.headSeq) d = this.#ringTs![this.tailSeq & this.#mask]! + this.cfg.gapTimeoutMs
    const o = this.#oos[0]
    if (o !== undefined) {
      const od = o.rxMono + this.cfg.oosTimeoutMs
      if (od < d) d = od
    }
    return d
  }

  /** One extended datagram, already parsed into `h` (positions in `payload`; it ends at `end`). `payload` is not retained. */
  receive (h: ParsedHeader, payload: Uint8Array, end: number, nowMono: number, nowReal: number, srcPort: number): void {
    this.#oosHist = (this.#oosHist << 1) >>> 0
    const seq = h.seq
    if (this.headSeq < 0) this.#startStream(seq)
    // Fast path: the next seq, whole, nothing held. No copy, no window bookkeeping.
    if (seq === this.headSeq && this.tailSeq === seq && h.fragTotal < 0) {
      this.headSeq = this.tailSeq = seq + 1
      this.#retired(seq, true, nowMono)
      const reset = this.#resetPending
      this.#resetPending = false
      const lost = this.#pendingLost
      this.#pendingLost = 0
      this.delivered++
      this.deliverDirect(h, payload, end, nowReal, srcPort, h.releaseEnd > 0 ? this.#release(payload, h) : null, reset, lost)
      if (this.#oos.length > 0) this.#releaseOos(nowMono, false)
      return
    }
    this.#placeDatagram(h, payload, end, nowMono, nowReal, srcPort)
    this.#retire(nowMono, nowMono)
    if (this.#oos.length > 0) this.#releaseOos(nowMono, false)
    if (this.heldBytes > this.cfg.maxHeldBytesPerHost) this.#enforceCap(nowMono)
  }

  /** Releases everything due at nowMono (gap timeouts, incomplete fragments, OOS holds). */
  runTimers (nowMono: number): void {
    this.#retire(nowMono, nowMono)
    if (this.#oos.length > 0) this.#releaseOos(nowMono, false)
  }

  /** Delivers everything held: gaps skipped (counted), partial messages flagged incomplete. */
  flush (nowMono: number): void {
    while (this.tailSeq < this.headSeq) this.#retireTail(nowMono)
    this.#freeRing()
    if (this.#oos.length > 0) this.#releaseOos(Infinity, true)
  }

  // ── stream and window ────────────────────────────────────────────────────────────────────

  #startStream (seq: number): void {
    this.headSeq = this.tailSeq = this.streamStart = seq
    this.#resetPending = true
    this.#pendingLost = 0
    this.#ckptLen = 0
    this.#ckptNext = 0
    if (this.#skipBits !== null) this.#skipBits.fill(0)
  }

  #release (payload: Uint8Array, h: ParsedHeader): string {
    const n = h.releaseEnd - h.releaseStart
    const cached = this.#releaseBytes
    if (cached !== null && cached.length === n) {
      let same = true
      for (let i = 0; i < n; i++) if (cached[i] !== payload[h.releaseStart + i]) { same = false; break }
      if (same) return this.#releaseStr!
    }
    const b = copyBytes(payload, h.releaseStart, h.releaseEnd)
    this.#releaseBytes = b
    this.#releaseStr = b.toString('latin1')
    return this.#releaseStr
  }

  /** Book-keeping for a seq leaving the window in order (delivered or skipped). */
  #retired (seq: number, delivered: boolean, now: number): void {
    const n = this.cfg.slots
    const idx = seq % n
    if (delivered) {
      if (this.#skipBits !== null) this.#skipBits[idx >> 3]! &= ~(1 << (idx & 7))
      // checkpoint
      let ck = this.#ckpt
      const g = this.cfg.oosWindowMs / 10
      if (this.#ckptLen > 0) {
        const last = (this.#ckptNext + CKPT_CAP - 1) % CKPT_CAP
        if (now - ck![2 * last + 1]! < g) return
      }
      if (ck === null) ck = this.#ckpt = new Float64Array(2 * CKPT_CAP)
      ck[2 * this.#ckptNext] = seq
      ck[2 * this.#ckptNext + 1] = now
      this.#ckptNext = (this.#ckptNext + 1) % CKPT_CAP
      if (this.#ckptLen < CKPT_CAP) this.#ckptLen++
    } else {
      const bits = this.#skipBits ?? (this.#skipBits = new Uint8Array((n + 7) >> 3))
      bits[idx >> 3]! |= 1 << (idx & 7)
    }
  }

  /** Was `seq` (below the window) delivered in the ordered stream within oosWindowMs? */
  #recentlyDelivered (seq: number, now: number): boolean {
    if (seq < this.streamStart) return false
    const bits = this.#skipBits
    const idx = seq % this.cfg.slots
    if (bits !== null && (bits[idx >> 3]! & (1 << (idx & 7))) !== 0) return false
    const ck = this.#ckpt
    if (ck === null) return false
    for (let k = 1; k <= this.#ckptLen; k++) {
      const j = (this.#ckptNext + CKPT_CAP - k) % CKPT_CAP
      if (ck[2 * j]! <= seq) return now - ck[2 * j + 1]! <= this.cfg.oosWindowMs
    }
    return false
  }

  /** Makes room in the ring for a window of `len` positions (allocates or doubles it, charged in held bytes). */
  #ringFor (len: number): void {
    const cur = this.#ring
    const size = cur === null ? 0 : cur.length
    if (len <= size) return
    let n = Math.max(MIN_RING, size)
    while (n < len) n *= 2
    const ring = new Array<HeldMsg | null>(n).fill(null)
    const ts = new Float64Array(n)
    if (cur !== null) {
      const old = this.#mask
      for (let s = this.tailSeq; s < this.headSeq; s++) { ring[s & (n - 1)] = cur[s & old]!; ts[s & (n - 1)] = this.#ringTs![s & old]! }
    }
    this.#recost((n - size) * WINDOW_SLOT_BYTES)
    this.#ring = ring
    this.#ringTs = ts
    this.#mask = n - 1
  }

  /** The window is empty: its ring goes (and its charge). */
  #freeRing (): void {
    if (this.#ring === null) return
    this.#recost(-this.#ring.length * WINDOW_SLOT_BYTES)
    this.#ring = null
    this.#ringTs = null
    this.#mask = 0
  }

  /** Places a datagram that did not take the fast path. */
  #placeDatagram (h: ParsedHeader, payload: Uint8Array, end: number, now: number, nowReal: number, srcPort: number): void {
    const seq = h.seq
    const n = this.cfg.slots
    const delta = seq - this.headSeq
    if (delta > n || delta < -n) { this.#toOos(h, payload, end, now, nowReal, srcPort); return }
    if (seq < this.tailSeq) {
      // Older than anything held. netconsd: emergency messages are never OOS for being old.
      if (h.emg || this.#recentlyDelivered(seq, now)) { this.#duplicate(); return }
      this.#toOos(h, payload, end, now, nowReal, srcPort)
      return
    }
    if (seq < this.headSeq) {
      const i = seq & this.#mask
      this.#ringTs![i] = now
      const held = this.#ring![i]!
      if (held === null) {
        const m = this.#ring![i] = this.#newHeld(h, payload, end, nowReal, srcPort)
        this.#hold(m)
      } else {
        this.#merge(held, h, payload, end, nowReal, srcPort)
      }
      return
    }
    const m = this.#newHeld(h, payload, end, nowReal, srcPort)
    this.#hold(m)
    this.#append(m, now)
  }

  /** Extends the window to m.seq (≥ headSeq): gaps before it, then m. Forces out what falls behind retxStride. */
  #append (m: HeldMsg, now: number): void {
    const limit = this.cfg.slots - this.cfg.retxStride
    const target = m.seq
    // netconsd retires the oldest slot whenever more than slots − retxStride are queued, even if
    // it is a gap. Same result here, but gaps that would be forced out at once are skipped in
    // bulk instead of being created first.
    let excess = (this.headSeq - this.tailSeq) + (target - this.headSeq) + 1 - limit
    while (excess > 0 && this.tailSeq < this.headSeq) {
      this.#retireTail(now)
      excess--
    }
    if (excess > 0) {
      const skip = Math.min(excess, target - this.headSeq)
      for (let s = this.headSeq; s < this.headSeq + skip; s++) this.#retired(s, false, now)
      this.#skipped(skip)
      this.headSeq += skip
      this.tailSeq = this.headSeq
    }
    this.#ringFor(target + 1 - this.tailSeq)
    const ring = this.#ring!
    const ts = this.#ringTs!
    const mask = this.#mask
    for (let s = this.headSeq; s < target; s++) { ring[s & mask] = null; ts[s & mask] = now }
    ring[target & mask] = m
    ts[target & mask] = now
    this.headSeq = target + 1
  }

  #skipped (count: number): void {
    this.#pendingLost += count
    this.lost += count
    this.counters.lost += count
  }

  /** Retires from the tail while the tail is complete, or a gap/partial whose timeout passed by `dueAt`. */
  #retire (now: number, dueAt: number): void {
    const gap = this.cfg.gapTimeoutMs
    while (this.tailSeq < this.headSeq) {
      const i = this.tailSeq & this.#mask
      const m = this.#ring![i]!
      if ((m === null || m.missing > 0) && this.#ringTs![i]! + gap > dueAt) break
      this.#retireTail(now)
    }
    if (this.tailSeq === this.headSeq) this.#freeRing()
  }

  /** Retires the tail slot whatever its state; carries its activity time to the next slot. */
  #retireTail (now: number): void {
    const ring = this.#ring!
    const ts = this.#ringTs!
    const seq = this.tailSeq
    const i = seq & this.#mask
    const m = ring[i]!
    ring[i] = null
    this.tailSeq = seq + 1
    if (this.tailSeq < this.headSeq) {
      const j = this.tailSeq & this.#mask
      if (ts[j]! < ts[i]!) ts[j] = ts[i]!
    }
    if (m === null) {
      this.#retired(seq, false, now)
      this.#skipped(1)
      return
    }
    this.#unhold(m)
    this.#retired(seq, true, now)
    const lost = this.#pendingLost
    this.#pendingLost = 0
    if (this.#resetPending) { m.seqReset = true; this.#resetPending = false }
    this.#emitHeld(m, false, lost)
  }

  #emitHeld (m: HeldMsg, oos: boolean, lostBefore: number): void {
    const incomplete = m.missing > 0
    this.delivered++
    if (incomplete) { this.incomplete++; this.counters.incomplete++ }
    if (oos) { this.oos++; this.counters.oos++ }
    this.deliverHeld(m, oos, incomplete, lostBefore)
  }

  // ── held messages ────────────────────────────────────────────────────────────────────────

  #newHeld (h: ParsedHeader, payload: Uint8Array, end: number, nowReal: number, srcPort: number): HeldMsg {
    let m: HeldMsg
    const bodyLen = end - h.bodyStart
    const release = h.releaseEnd > 0 ? this.#release(payload, h) : null
    if (h.fragTotal < 0) {
      m = new HeldMsg(h.seq, EMPTY, bodyLen)
      m.cost = bodyLen + MSG_OVERHEAD
      m.pre = this.prepare(h, payload, end, nowReal, srcPort, release)
    } else {
      m = new HeldMsg(h.seq, EMPTY, h.fragTotal)
      m.pieces = []
      m.missing = h.fragTotal
      this.#fill(m, h.fragOff, payload, h.bodyStart, end)
    }
    m.facility = h.facility
    m.level = h.level
    m.tsUsec = h.tsUsec
    m.contStart = h.contStart
    m.cont = h.cont
    m.emg = h.emg
    m.release = release
    m.srcPort = srcPort
    m.rxReal = nowReal
    return m
  }

  /**
   * Copies fragment bytes src[start, end) at record offset `off` into m where they are still
   * missing (bytes that already arrived win, as before). Returns how many were new. The cost is
   * the fragment's own bytes plus a binary search over m's pieces; m.cost follows (the caller
   * adjusts held bytes by the change).
   */
  #fill (m: HeldMsg, off: number, src: Uint8Array, start: number, end: number): number {
    const pieces = m.pieces!
    let lo = off
    const hi = Math.min(off + (end - start), m.total)
    // First piece that ends after lo.
    let a = 0
    let b = pieces.length
    while (a < b) {
      const mid = (a + b) >> 1
      const p = pieces[mid]!
      if (p.off + p.buf.length <= lo) a = mid + 1; else b = mid
    }
    let i = a
    let added = 0
    let pieceDelta = 0
    while (lo < hi) {
      const p = pieces[i]
      const gapEnd = p === undefined ? hi : Math.min(p.off, hi)
      if (gapEnd > lo) {
        pieces.splice(i, 0, { off: lo, buf: copyBytes(src, start + (lo - off), start + (gapEnd - off)) })
        added += gapEnd - lo
        pieceDelta++
        i++
        lo = gapEnd
      }
      if (p === undefined || lo >= hi) break
      // lo is inside (or at the start of) p: skip what is already there.
      lo = Math.max(lo, p.off + p.buf.length)
      i++
    }
    m.missing -= added
    if (m.missing === 0) {
      // Complete: one buffer (ranges are sorted and cover [0, total)), once.
      m.body = pieces.length === 1 ? pieces[0]!.buf : Buffer.concat(pieces.map((p) => p.buf), m.total)
      m.pieces = null
      m.cost = m.total + MSG_OVERHEAD
    } else {
      m.cost += added + pieceDelta * PIECE_OVERHEAD
    }
    return added
  }

  /** A datagram for a seq that already has a (maybe partial) message. */
  #merge (m: HeldMsg, h: ParsedHeader, payload: Uint8Array, end: number, nowReal: number, srcPort: number): void {
    if (m.missing === 0) { this.#duplicate(); return }
    if (h.fragTotal !== m.total) { this.counters.drops[DropReason.seqConflict]!++; this.dropped(DropReason.seqConflict, 1); return }
    const before = m.cost
    const added = this.#fill(m, h.fragOff, payload, h.bodyStart, end)
    this.#recost(m.cost - before)
    if (added === 0) { this.#duplicate(); return }
    m.srcPort = srcPort
    m.rxReal = nowReal
  }

  #duplicate (): void {
    this.duplicates++
    this.counters.duplicates++
    this.dropped('duplicate', 1)
  }

  #recost (d: number): void {
    this.heldBytes += d
    this.counters.heldBytes += d
  }

  #hold (m: HeldMsg): void {
    const b = m.cost
    this.heldBytes += b
    this.heldMessages++
    this.counters.heldBytes += b
    this.counters.heldMessages++
  }

  #unhold (m: HeldMsg): void {
    const b = m.cost
    this.heldBytes -= b
    this.heldMessages--
    this.counters.heldBytes -= b
    this.counters.heldMessages--
  }

  /**
   * Releases the oldest held data early until the host is under its byte cap: the tail of the
   * window (a gap is skipped, a partial message goes out incomplete; counted per slot), then the
   * oldest OOS message.
   */
  #enforceCap (now: number): void {
    const cap = this.cfg.maxHeldBytesPerHost
    while (this.heldBytes > cap) {
      if (!this.releaseOldest(now, DropReason.heldBytesCap)) break
    }
  }

  /**
   * Releases this host's oldest held data (one window slot, or the oldest OOS message), counted
   * as `reason`. False when nothing is held. Used by the per-host cap and by the worker's global
   * byte budget (HostTable).
   */
  releaseOldest (now: number, reason: string): boolean {
    let done = false
    if (this.tailSeq < this.headSeq) {
      this.#retireTail(now)
      this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1
      this.dropped(reason, 1)
      // Complete messages that were waiting behind it go out now too.
      this.#retire(now, -Infinity)
      done = true
    } else if (this.#oos.length > 0) {
      const m = this.#oos.shift()!
      this.#unhold(m)
      this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1
      this.dropped(reason, 1)
      this.#emitHeld(m, true, 0)
      done = true
    }
    if (this.tailSeq === this.headSeq) this.#freeRing()
    return done
  }

  // ── out of sequence and resets ───────────────────────────────────────────────────────────

  #toOos (h: ParsedHeader, payload: Uint8Array, end: number, now: number, nowReal: number, srcPort: number): void {
    this.#oosHist |= 1
    const list = this.#oos
    let found: HeldMsg | undefined
    for (let i = 0; i < list.length; i++) if (list[i]!.seq === h.seq) { found = list[i]; break }
    if (found !== undefined) {
      this.#merge(found, h, payload, end, nowReal, srcPort)
    } else {
      const m = this.#newHeld(h, payload, end, nowReal, srcPort)
      m.rxMono = now
      this.#hold(m)
      list.push(m)
    }
    if (popcount32(this.#oosHist) >= this.cfg.oosThreshold) {
      this.#reset(now)
    } else if (list.length > OOS_MAX) {
      const m = list.shift()!
      this.#unhold(m)
      this.counters.drops[DropReason.oosOverflow]!++
      this.dropped(DropReason.oosOverflow, 1)
      this.#emitHeld(m, true, 0)
    }
  }

  /** Delivers OOS messages held since `now - oosTimeoutMs` (all of them when `all`). */
  #releaseOos (now: number, all: boolean): void {
    const list = this.#oos
    const t = this.cfg.oosTimeoutMs
    while (list.length > 0 && (all || list[0]!.rxMono + t <= now)) {
      const m = list.shift()!
      this.#unhold(m)
      this.#emitHeld(m, true, 0)
    }
  }

  /**
   * Too many recent packets were out of sequence: the sender restarted its numbering (reboot).
   * Deliver everything of the old stream, start a new one at the lowest OOS seq, then place the
   * other OOS messages in arrival order (those that still do not fit go out as oos).
   */
  #reset (now: number): void {
    while (this.tailSeq < this.headSeq) this.#retireTail(now)
    this.#freeRing()
    this.resets++
    this.counters.resets++
    this.#oosHist = 0
    const list = this.#oos
    this.#oos = []
    let lowest = 0
    for (let i = 1; i < list.length; i++) if (list[i]!.seq < list[lowest]!.seq) lowest = i
    const first = list[lowest]!
    this.#startStream(first.seq)
    this.#append(first, now)
    for (let i = 0; i < list.length; i++) {
      if (i === lowest) continue
      const m = list[i]!
      const delta = m.seq - this.headSeq
      if (delta > this.cfg.slots || m.seq < this.tailSeq) {
        this.#unhold(m)
        this.#emitHeld(m, true, 0)
      } else if (m.seq < this.headSeq) {
        // Cannot be a second copy (the OOS list holds one entry per seq), but a forced skip may
        // have passed it: treat like any late arrival.
        const i = m.seq & this.#mask
        if (this.#ring![i] === null) { this.#ring![i] = m; this.#ringTs![i] = now } else { this.#unhold(m); this.#emitHeld(m, true, 0) }
      } else {
        this.#append(m, now)
      }
    }
    this.#retire(now, now)
  }
}
