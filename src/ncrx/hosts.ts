/**
 * HostTable: one ncrx state per sender address, the API the worker thread calls.
 *
 *   receive(src, port, payload) ─► parseDatagram ─┬─ malformed ─► counted by reason, onDrop
 *                                                 ├─ legacy ────► record at once (one per datagram)
 *                                                 └─ extended ──► host's Ncrx ─► records in per-host order
 *   nextDeadline()/runTimers() ─► min-heap of host deadlines (gap/OOS timeouts) + idle-host GC
 *
 * Hosts are keyed by address only; the UDP port is ignored, as in netconsd. Two senders behind one
 * address (NAT, or two netconsole targets on one machine pointing here) share one sequence state and
 * disturb each other (duplicates, OOS, resets). `srcPort` on each record is the port of its (last)
 * datagram.
 *
 * Memory is bounded: at most `maxHosts` host states (the least recently seen is evicted, after
 * delivering what it holds), at most `maxHeldBytesPerHost` held body bytes per host, at most
 * `slots` window positions and OOS_MAX out-of-sequence messages per host. The payload passed to
 * receive() is never retained (held messages are copied), so the caller may reuse its buffer.
 *
 * Timers: every host with something held sits in one min-heap keyed by its deadline, so a held
 * message is released at its deadline even when no other packet arrives (netconsd's timer wheel
 * forgets other hosts' wake-ups, spec §4.4).
 */
import type { NcrxConfig } from '../config/types.js'
import type { HostInfo, NetconsRecord } from '../types.js'
import { type DecodedBody, NO_DICT, asBuffer, copyBytes, decodeExtendedBody, legacyTsUsec } from './decode.js'
import { LogRecord } from './record.js'
import { type HeldMsg, Ncrx, type NcrxCounters, DropReason, newNcrxCounters } from './ncrx.js'
import { Kind, MALFORMED_REASONS, ParsedHeader, parseDatagram } from './parse.js'

export type { NcrxCounters } from './ncrx.js'
export { defaultNcrxConfig } from './ncrx.js'

export interface HostTableOptions {
  config: NcrxConfig
  thread: number
  /** Called once when a host is first seen; the result is cached in the host state. */
  resolveHost: (address: string) => HostInfo
  /** Every delivered record, in per-host order. Must not call back into the table. */
  emit: (rec: NetconsRecord) => void
  /** Something was discarded or released early; rate-limited logging is the caller's job. */
  onDrop?: (reason: string, src: string, count: number) => void
}

export interface HostStat {
  address: string
  name: string
  lost: number
  duplicates: number
  oos: number
  resets: number
  /** Wall-clock ms of the host's last datagram. */
  lastSeenMs: number
  delivered: number
  incomplete: number
  heldMessages: number
  heldBytes: number
}

class HostState extends Ncrx {
  lastSeenMono = 0
  lastSeenReal = 0
  /** LRU list (oldest first). */
  prev: HostState | null = null
  next: HostState | null = null
  /** Position in the deadline heap, -1 when not in it. */
  heapIdx = -1
  /** The deadline the heap knows. */
  due = Infinity

  constructor (readonly table: HostTable, readonly address: string, public info: HostInfo, cfg: NcrxConfig, counters: NcrxCounters) {
    super(cfg, counters)
  }

  protected deliverDirect (h: ParsedHeader, payload: Uint8Array, end: number, nowReal: number, srcPort: number, release: string | null, seqReset: boolean, lostBefore: number): void {
    // HostTable.receive hands ncrx a Buffer, so the text is decoded in place.
    const body = decodeExtendedBody(payload as Buffer, h.bodyStart, end, this.table._scratch)
    const rec = new LogRecord('extended', this.address, srcPort, this.info, this.table.thread,
      h.seq, h.facility, h.level, h.tsUsec < 0 ? null : h.tsUsec, body.text, body.raw, body.dict, release,
      h.contStart, h.cont, false, seqReset, false, lostBefore, nowReal)
    if (this.table.keepWire) rec.wire = copyBytes(payload, h.bodyStart, end)
    this.table._emitRecord(rec)
  }

  protected prepare (h: ParsedHeader, payload: Uint8Array, end: number, nowReal: number, srcPort: number, release: string | null): object {
    const body = decodeExtendedBody(payload as Buffer, h.bodyStart, end, this.table._scratch)
    const rec = new LogRecord('extended', this.address, srcPort, this.info, this.table.thread,
      h.seq, h.facility, h.level, h.tsUsec < 0 ? null : h.tsUsec, body.text, body.raw, body.dict, release,
      h.contStart, h.cont, false, false, false, 0, nowReal)
    if (this.table.keepWire) rec.wire = copyBytes(payload, h.bodyStart, end)
    return rec
  }

  protected deliverHeld (m: HeldMsg, oos: boolean, incomplete: boolean, lostBefore: number): void {
    if (m.pre !== null) {
      const rec = m.pre as LogRecord
      rec.oos = oos
      rec.seqReset = m.seqReset
      rec.lostBefore = lostBefore
      this.table._emitRecord(rec)
      return
    }
    const bytes = incomplete ? m.receivedBytes() : m.body
    const body = decodeExtendedBody(bytes, 0, bytes.length, this.table._scratch)
    const rec = new LogRecord('extended', this.address, m.srcPort, this.info, this.table.thread,
      m.seq, m.facility, m.level, m.tsUsec < 0 ? null : m.tsUsec, body.text, body.raw, body.dict, m.release,
      m.contStart, m.cont, oos, m.seqReset, incomplete, lostBefore, m.rxReal)
    if (this.table.keepWire) rec.wire = bytes
    this.table._emitRecord(rec)
  }

  protected dropped (reason: string, count: number): void {
    this.table._dropped(reason, this.address, count)
  }
}

export class HostTable {
  readonly thread: number
  readonly counters: NcrxCounters
  readonly #cfg: NcrxConfig
  #resolveHost: (address: string) => HostInfo
  readonly #emit: (rec: NetconsRecord) => void
  readonly #onDrop: ((reason: string, src: string, count: number) => void) | undefined
  readonly #hosts = new Map<string, HostState>()
  readonly #hdr = new ParsedHeader()
  /** @internal one decode result reused for every record (read right after decoding). */
  readonly _scratch: DecodedBody = { text: '', raw: null, dict: NO_DICT }
  /**
   * Keep each extended record's reassembled wire body (`LogRecord.wire`, still `\xNN`-escaped):
   * on while a C output module is configured, which gets the text as netconsd's libncrx hands it
   * out. Off, nothing is copied.
   */
  keepWire = false
  /** LRU list ends: oldest (eviction/GC candidate) and newest. */
  #oldest: HostState | null = null
  #newest: HostState | null = null
  /** Min-heap of hosts by `due`. */
  readonly #heap: HostState[] = []
  #nextGcAt = -1

  constructor (opts: HostTableOptions) {
    this.#cfg = opts.config
    this.thread = opts.thread
    this.#resolveHost = opts.resolveHost
    this.#emit = opts.emit
    this.#onDrop = opts.onDrop
    this.counters = newNcrxCounters(MALFORMED_REASONS)
  }

  /**
   * One datagram: payload[start, end) (default: all of it), which may be one of many packed in a
   * batch buffer; nothing outside that range is read and nothing of it is retained.
   * nowMono = monotonic ms (performance.now()), nowReal = Date.now().
   */
  receive (src: string, srcPort: number, payload: Uint8Array, nowMono: number, nowReal: number, start = 0, end = payload.length): void {
    this.receiveBuffer(src, srcPort, asBuffer(payload), nowMono, nowReal, start, end)
  }

  /** `receive` for a payload that already is a Buffer (a batch: converted once, not per datagram). */
  receiveBuffer (src: string, srcPort: number, buf: Buffer, nowMono: number, nowReal: number, start: number, end: number): void {
    const c = this.counters
    c.datagrams++
    const h = this.#hdr
    const kind = parseDatagram(buf, this.#cfg.maxMessageBytes, h, end, start)
    if (kind === Kind.Malformed) {
      c.malformed[h.reason] = (c.malformed[h.reason] ?? 0) + 1
      this.#onDrop?.(h.reason, src, 1)
      return
    }
    const host = this.#host(src, nowMono, nowReal)
    if (kind === Kind.Legacy) {
      c.legacy++
      this.#emitLegacy(host, buf, start, end, nowReal, srcPort)
      return
    }
    c.extended++
    if (h.fragTotal >= 0) c.fragments++
    host.receive(h, buf, end, nowMono, nowReal, srcPort)
    const d = host.deadline()
    if (d !== host.due) this.#reschedule(host, d)
    if (c.heldBytes > this.#cfg.maxHeldBytes) this.#enforceGlobal(nowMono)
  }

  /**
   * Over the worker's byte budget: release the oldest held data first. The heap's top is the
   * host whose oldest held item is due soonest, i.e. the one that has waited longest (deadlines
   * are "first activity + fixed timeout"), so this evicts oldest first without walking all hosts.
   */
  #enforceGlobal (nowMono: number): void {
    const heap = this.#heap
    const budget = this.#cfg.maxHeldBytes
    while (this.counters.heldBytes > budget) {
      const top = heap[0]
      if (top === undefined) break
      if (!top.releaseOldest(nowMono, DropReason.heldBytesGlobal)) {
        this.#reschedule(top, Infinity)
        continue
      }
      this.#reschedule(top, top.deadline())
    }
  }

  /** Monotonic ms at which runTimers must next be called, or Infinity when nothing is held (and GC is off or no host is tracked). */
  nextDeadline (): number {
    const top = this.#heap[0]
    let d = top === undefined ? Infinity : top.due
    if (this.#nextGcAt >= 0 && this.#hosts.size > 0 && this.#nextGcAt < d) d = this.#nextGcAt
    return d
  }

  /** Release everything due (gap timeouts, oos holds, incomplete fragments) and run GC if due. */
  runTimers (nowMono: number): void {
    const heap = this.#heap
    let top = heap[0]
    while (top !== undefined && top.due <= nowMono) {
      top.runTimers(nowMono)
      let d = top.deadline()
      // A host's deadline is always in the future once its due work ran; should that ever not
      // hold, look again next millisecond rather than spin here forever.
      if (d <= nowMono) d = nowMono + 1
      this.#reschedule(top, d)
      top = heap[0]
    }
    if (this.#nextGcAt >= 0 && nowMono >= this.#nextGcAt) this.#gc(nowMono)
  }

  /** Shutdown: deliver everything held (gaps skipped and counted, incomplete fragments flagged). */
  flushAll (nowMono: number): void {
    for (const host of this.#hosts.values()) {
      host.flush(nowMono)
      this.#reschedule(host, Infinity)
    }
  }

  /** Re-resolve every known host (after a config reload changed the inventory). */
  refreshHosts (resolveHost: (address: string) => HostInfo): void {
    this.#resolveHost = resolveHost
    for (const host of this.#hosts.values()) host.info = resolveHost(host.address)
  }

  hostStats (): Iterable<HostStat> {
    const out: HostStat[] = []
    for (const h of this.#hosts.values()) {
      out.push({
        address: h.address,
        name: h.info.name,
        lost: h.lost,
        duplicates: h.duplicates,
        oos: h.oos,
        resets: h.resets,
        lastSeenMs: h.lastSeenReal,
        delivered: h.delivered,
        incomplete: h.incomplete,
        heldMessages: h.heldMessages,
        heldBytes: h.heldBytes
      })
    }
    return out
  }

  /** @internal called by HostState. */
  _emitRecord (rec: NetconsRecord): void {
    this.counters.delivered++
    this.#emit(rec)
  }

  /** @internal called by HostState. */
  _dropped (reason: string, src: string, count: number): void {
    this.#onDrop?.(reason, src, count)
  }

  // ── hosts ────────────────────────────────────────────────────────────────────────────────

  #host (src: string, nowMono: number, nowReal: number): HostState {
    // Datagrams of one host often come in runs: the newest host is checked before the map.
    const newest = this.#newest
    if (newest !== null && newest.address === src) {
      newest.lastSeenMono = nowMono
      newest.lastSeenReal = nowReal
      return newest
    }
    let host = this.#hosts.get(src)
    if (host === undefined) {
      if (this.#hosts.size >= this.#cfg.maxHosts && this.#oldest !== null) {
        const victim = this.#oldest
        this.#forget(victim, nowMono)
        this.counters.drops[DropReason.hostEvicted]!++
        this.#onDrop?.(DropReason.hostEvicted, victim.address, 1)
      }
      host = new HostState(this, src, this.#resolveHost(src), this.#cfg, this.counters)
      this.#hosts.set(src, host)
      this.counters.hostsSeen++
      this.counters.hosts = this.#hosts.size
      if (this.#cfg.gcIntervalMs > 0 && this.#nextGcAt < 0) this.#nextGcAt = nowMono + this.#cfg.gcIntervalMs
    } else if (host === this.#newest) {
      host.lastSeenMono = nowMono
      host.lastSeenReal = nowReal
      return host
    } else {
      this.#unlink(host)
    }
    host.lastSeenMono = nowMono
    host.lastSeenReal = nowReal
    // append as newest
    host.prev = this.#newest
    host.next = null
    if (this.#newest !== null) this.#newest.next = host
    else this.#oldest = host
    this.#newest = host
    return host
  }

  #unlink (host: HostState): void {
    if (host.prev !== null) host.prev.next = host.next
    else this.#oldest = host.next
    if (host.next !== null) host.next.prev = host.prev
    else this.#newest = host.prev
    host.prev = host.next = null
  }

  /** Delivers what the host holds, then drops its state. */
  #forget (host: HostState, nowMono: number): void {
    host.flush(nowMono)
    this.#reschedule(host, Infinity)
    this.#unlink(host)
    this.#hosts.delete(host.address)
    this.counters.hosts = this.#hosts.size
  }

  #gc (nowMono: number): void {
    const age = this.#cfg.gcAgeMs
    let h = this.#oldest
    while (h !== null && nowMono - h.lastSeenMono > age) {
      const next = h.next
      this.#forget(h, nowMono)
      this.counters.hostsForgotten++
      h = next
    }
    this.#nextGcAt = this.#hosts.size > 0 ? nowMono + this.#cfg.gcIntervalMs : -1
  }

  #emitLegacy (host: HostState, payload: Buffer, start: number, end: number, nowReal: number, srcPort: number): void {
    const raw = copyBytes(payload, start, end)
    host.delivered++
    this._emitRecord(new LogRecord('legacy', host.address, srcPort, host.info, this.thread,
      null, 0, null, legacyTsUsec(raw), raw.toString('utf8', 0, raw.length), raw, NO_DICT, null,
      false, false, false, false, false, 0, nowReal))
  }

  // ── deadline heap ────────────────────────────────────────────────────────────────────────

  #reschedule (host: HostState, due: number): void {
    const heap = this.#heap
    host.due = due
    let i = host.heapIdx
    if (due === Infinity) {
      if (i < 0) return
      const last = heap.pop()!
      host.heapIdx = -1
      if (last === host) return
      heap[i] = last
      last.heapIdx = i
      this.#siftDown(i)
      this.#siftUp(last.heapIdx)
      return
    }
    if (i < 0) {
      i = heap.length
      heap.push(host)
      host.heapIdx = i
      this.#siftUp(i)
      return
    }
    this.#siftUp(i)
    this.#siftDown(host.heapIdx)
  }

  #siftUp (i: number): void {
    const heap = this.#heap
    const x = heap[i]!
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = heap[p]!
      if (parent.due <= x.due) break
      heap[i] = parent
      parent.heapIdx = i
      i = p
    }
    heap[i] = x
    x.heapIdx = i
  }

  #siftDown (i: number): void {
    const heap = this.#heap
    const n = heap.length
    const x = heap[i]!
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      const r = c + 1
      if (r < n && heap[r]!.due < heap[c]!.due) c = r
      const child = heap[c]!
      if (child.due >= x.due) break
      heap[i] = child
      child.heapIdx = i
      i = c
    }
    heap[i] = x
    x.heapIdx = i
  }
}
