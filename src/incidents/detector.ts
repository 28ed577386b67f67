/**
 * Kernel incident detection and host lifecycle events, per worker.
 *
 *   records of one host, in order (after ncrx)
 *          │ observe()
 *          ▼
 *   lines ── legacy: split datagrams, strip `[ts] `, join 1000-byte cuts
 *          │        extended: split embedded newlines, append `+` continuations
 *          ▼
 *   per host (per CPU lane when the sender tags lines with `cpu=`):
 *     idle ──title──► open report ──end marker / idle / cap──► analyzeReport() ──► emit(kind: 'incident')
 *       └──cut here / ===== ──► pending ──title──┘
 *   lifecycle: new host, reboot (sequence or clock went back), loss (seq gaps), silent after panic ──► emit(kind: 'event')
 *
 * Every host lives in exactly one worker, so all of this is single-threaded state. Memory is
 * bounded: hosts (`maxHosts`, CLOCK eviction), open reports per host, lines and bytes per report;
 * everything cut is counted in `stats()`.
 */
import type { Logger } from 'pino'
import type { HostEvent, IncidentInfo, NetconsRecord } from '../types.js'
import { type IncidentsConfig, type IncidentType, defaultIncidentsConfig } from './config.js'
import { LEGACY_CHUNK_BYTES, splitLines, stripLegacyPrefix } from './lines.js'
import { type EndRule, classifyLine, endsReport, hasEndMarker, isCallTraceHeader, isSysrqLine } from './patterns.js'
import { type CauseInfo, analyzeReport } from './report.js'

export type { IncidentsConfig }

/** A panic saying `Fatal exception` within this long of an oops on the same host was caused by it. */
const CAUSE_WINDOW_MS = 60_000
/** A `cut here`/banner not followed by a title within this many lines was not a report. */
const MAX_PENDING_LINES = 8
/** A sysrq line is the trigger of a report only when it comes right before it, this recently. */
const SYSRQ_TRIGGER_MS = 5_000
/** Reboot: the kernel clock went back by more than this (timestamps of one boot can be a little out of order). */
const CLOCK_BACK_USEC = 2_000_000
/** ... and by more than this for a record ncrx delivered out of sequence. */
const OOS_REBOOT_CLOCK_BACK_USEC = 10_000_000

type EndReason = 'end_marker' | 'idle' | 'superseded' | 'max_duration' | 'evicted' | 'shutdown'

interface Report {
  /** null while pending (a `cut here` with no title yet). */
  type: IncidentType | null
  end: EndRule
  lane: string
  lines: string[]
  /** Index of the title in `lines`. */
  titleIdx: number
  /** Lines between a `cut here` and the title (the WARN() message). */
  preLines: string[]
  bytes: number
  totalLines: number
  droppedLines: number
  sawCallTrace: boolean
  sawDie: boolean
  firstMono: number
  lastMono: number
  firstAt: number
  lastAt: number
  firstTsUsec: number | null
  lastTsUsec: number | null
  firstSeq: number | null
  lastSeq: number | null
  minLevel: number | null
  lost: number
  incomplete: boolean
  release: string | null
  trigger: string | null
  sample: NetconsRecord
}

interface HostState {
  src: string
  /** Latest record: host info for timer-driven emissions. */
  sample: NetconsRecord
  /** CLOCK bit for eviction. */
  referenced: boolean
  lastMono: number
  lastSeq: number | null
  lastTsUsec: number | null
  lastAt: number
  reports: Report[]
  /** Legacy: the unfinished last line of a 1000-byte cut datagram. */
  partial: { text: string, mono: number } | null
  /** Where a `+` continuation appends: the last line kept for this host. */
  lastLine: { report: Report, idx: number } | null
  /** The last line outside any report was a sysrq action, at this time. */
  sysrqMono: number
  lastIncident: (CauseInfo & { mono: number, panic: boolean }) | null
  /** A panic was emitted at this time and nothing has arrived since. */
  panicMono: number | null
  panicSignature: string | null
  /** Kernel release and hardware from the host's earlier reports: a panic after an oops prints neither. */
  release: string | null
  hardware: string | null
  lossAccum: number
  lossGaps: number
  lossLastEventMono: number
}

export interface IncidentStats {
  incidents: Record<string, number>
  events: Record<string, number>
  /** Reports closed early, by reason (`superseded`, `max_duration`, `evicted`, `shutdown`, `idle` before the end marker). */
  partial: Record<string, number>
  /** Recognised but not emitted because the type is not in `types`. */
  disabledType: number
  /** Lines of reports beyond `maxLinesPerReport` / `maxBytesPerReport`. */
  droppedLines: number
  /** `cut here` / banners with no title after them. */
  orphanMarkers: number
  /** Hosts forgotten beyond `maxHosts`. */
  evictedHosts: number
  /** Exceptions caught in observe()/runTimers() (a bug; logged). */
  internalErrors: number
  hosts: number
  openReports: number
}

export interface IncidentDetectorOptions {
  config: IncidentsConfig | Partial<IncidentsConfig>
  thread: number
  emit: (rec: NetconsRecord) => void
  logger?: Logger
}

export class IncidentDetector {
  readonly #cfg: IncidentsConfig
  readonly #thread: number
  readonly #emit: (rec: NetconsRecord) => void
  readonly #logger: Logger | undefined
  readonly #types: Set<string>
  readonly #events: Set<string>
  readonly #hosts = new Map<string, HostState>()
  /** The host of the last observed record (null after it was evicted). */
  #lastHost: HostState | null = null
  /** Hosts with something timed: open reports, a partial line, a panic waiting for silence. */
  readonly #active = new Set<HostState>()
  #seq = 0
  #lastErrorLogMono = -Infinity
  readonly #stats: Omit<IncidentStats, 'hosts' | 'openReports'> = {
    incidents: {},
    events: {},
    partial: {},
    disabledType: 0,
    droppedLines: 0,
    orphanMarkers: 0,
    evictedHosts: 0,
    internalErrors: 0
  }

  constructor (opts: IncidentDetectorOptions) {
    // The config loader fills every default from the schema; library callers may pass a part.
    this.#cfg = { ...defaultIncidentsConfig, ...opts.config }
    this.#thread = opts.thread
    this.#emit = opts.emit
    this.#logger = opts.logger
    this.#types = new Set(this.#cfg.types)
    this.#events = new Set(this.#cfg.events)
  }

  /** Every log record of every host, in per-host order (after ncrx). Never throws. */
  observe (rec: NetconsRecord, nowMono: number): void {
    if (!this.#cfg.enabled || rec.kind !== 'log') return
    try {
      this.#observe(rec, nowMono)
    } catch (err) {
      this.#internalError(err, nowMono)
    }
  }

  /** Earliest monotonic ms at which runTimers() has work, or Infinity. */
  nextDeadline (): number {
    let min = Infinity
    for (const h of this.#active) {
      const d = this.#hostDeadline(h)
      if (d < min) min = d
    }
    return min
  }

  /** Idle timeouts, duration caps, legacy partial lines, silence after a panic. Never throws. */
  runTimers (nowMono: number): void {
    for (const h of [...this.#active]) {
      try {
        this.#runHostTimers(h, nowMono)
      } catch (err) {
        this.#internalError(err, nowMono)
      }
    }
  }

  /** Shutdown: emit open reports as they stand (flagged `partial`); pending markers are dropped. */
  flushAll (nowMono: number): void {
    for (const h of [...this.#active]) {
      try {
        if (h.partial !== null) this.#flushPartial(h, nowMono)
        for (const r of [...h.reports]) this.#close(h, r, r.type === null ? 'idle' : 'shutdown', nowMono)
        h.panicMono = null
        this.#active.delete(h)
      } catch (err) {
        this.#internalError(err, nowMono)
      }
    }
  }

  stats (): IncidentStats {
    let open = 0
    for (const h of this.#active) open += h.reports.length
    return { ...this.#stats, incidents: { ...this.#stats.incidents }, events: { ...this.#stats.events }, partial: { ...this.#stats.partial }, hosts: this.#hosts.size, openReports: open }
  }

  // ---- records and lines -------------------------------------------------------------------

  #observe (rec: NetconsRecord, now: number): void {
    // Records of one host often come in runs: the last host is checked before the map.
    let h = this.#lastHost !== null && this.#lastHost.src === rec.src ? this.#lastHost : this.#hosts.get(rec.src)
    if (h === undefined) {
      h = this.#addHost(rec, now)
      this.#event(h, rec, 'new_host', 'New host seen.', {
        seq: rec.seq,
        uptimeMs: rec.tsUsec === null ? null : Math.floor(rec.tsUsec / 1000),
        format: rec.format,
        release: rec.release
      })
    }
    this.#lastHost = h
    h.referenced = true
    h.sample = rec

    if (h.panicMono !== null) {
      // Anything at all from the host means it is not silent (it may be rebooting).
      h.panicMono = null
      this.#maybeIdle(h)
    }

    if (rec.format === 'legacy') this.#observeLegacy(h, rec, now)
    else this.#observeExtended(h, rec, now)

    h.lastMono = now
    h.lastAt = rec.receivedAt
  }

  #observeExtended (h: HostState, rec: NetconsRecord, now: number): void {
    if (rec.seq !== null) {
      // A reboot restarts both the sequence and the kernel clock. ncrx flags the stream reset
      // (seqReset) only after 19 of 32 packets were out of sequence, and delivers the new boot's
      // first records as `oos` until then; an `oos` record whose clock is far behind (more than
      // 10 s and less than half the old uptime: no reordering in one boot does that) is the
      // earlier sign. Either way the clock must have gone back: a reset within one boot is not a reboot.
      const back = rec.tsUsec !== null && h.lastTsUsec !== null ? h.lastTsUsec - rec.tsUsec : 0
      const rebooted = h.lastSeq !== null && rec.seq < h.lastSeq && (rec.oos
        ? back > OOS_REBOOT_CLOCK_BACK_USEC && rec.tsUsec! < h.lastTsUsec! / 2
        : back > CLOCK_BACK_USEC || (rec.seqReset && rec.tsUsec === null))
      if (rebooted) {
        this.#reboot(h, rec, now, { previousSeq: h.lastSeq, seq: rec.seq, previousUptimeMs: msOrNull(h.lastTsUsec), uptimeMs: msOrNull(rec.tsUsec) })
      } else if (!rec.oos && rec.lostBefore > 0) {
        this.#loss(h, rec, now)
      }
      if (!rec.oos || rebooted) {
        h.lastSeq = rec.seq
        if (rec.tsUsec !== null) h.lastTsUsec = rec.tsUsec
      }
    }
    if (rec.release !== null) h.release = rec.release
    const lane = laneOf(rec)
    const text = rec.text
    // `+` (4.2-4.8) always continues the previous line; `c` marks a piece the kernel could not
    // join to the record before it (5.10+), which is a continuation when it does not start a
    // line of its own (pr_cont pieces begin with a space or punctuation: ` knc_crash(OE)`).
    if ((rec.cont || (rec.contStart && /^[\s,.;:)\]]/.test(text))) && h.lastLine !== null) {
      this.#appendToLast(h, text)
      return
    }
    if (!text.includes('\n')) {
      this.#line(h, rec, text, rec.tsUsec, lane, now)
      return
    }
    for (const line of splitLines(text)) this.#line(h, rec, line, rec.tsUsec, lane, now)
  }

  #observeLegacy (h: HostState, rec: NetconsRecord, now: number): void {
    let text = rec.text
    if (h.partial !== null) {
      text = h.partial.text + text
      h.partial = null
    }
    const raw = rec.raw
    // A datagram of exactly MAX_PRINT_CHUNK bytes that does not end a line was cut by
    // netconsole; the rest of its last line arrives next, with no prefix.
    const cut = raw.length >= LEGACY_CHUNK_BYTES && raw[raw.length - 1] !== 0x0a
    const lines = splitLines(text)
    if (cut && lines.length > 0) {
      h.partial = { text: lines.pop()!, mono: now }
      this.#active.add(h)
    }
    for (const l of lines) this.#legacyLine(h, rec, l, now)
  }

  #legacyLine (h: HostState, rec: NetconsRecord, l: string, now: number): void {
    const { text, tsUsec, caller } = stripLegacyPrefix(l)
    if (tsUsec !== null) {
      if (h.lastTsUsec !== null && tsUsec + CLOCK_BACK_USEC < h.lastTsUsec) {
        this.#reboot(h, rec, now, { previousUptimeMs: Math.floor(h.lastTsUsec / 1000), uptimeMs: Math.floor(tsUsec / 1000) })
      }
      h.lastTsUsec = tsUsec
    }
    this.#line(h, rec, text, tsUsec, caller ?? '', now)
  }

  #flushPartial (h: HostState, now: number): void {
    const p = h.partial
    if (p === null) return
    h.partial = null
    this.#legacyLine(h, h.sample, p.text, now)
  }

  #appendToLast (h: HostState, piece: string): void {
    const ll = h.lastLine
    if (ll === null || ll.idx >= ll.report.lines.length) return
    ll.report.lines[ll.idx] += piece
    ll.report.bytes += piece.length
  }

  /** One console line of host `h`. */
  #line (h: HostState, rec: NetconsRecord, line: string, tsUsec: number | null, lane: string, now: number): void {
    let r = findLane(h, lane)
    if (r !== undefined && r.type !== null && endsReport(r.end, line, r.sawCallTrace)) {
      this.#add(h, r, rec, line, tsUsec, now, false)
      this.#close(h, r, 'end_marker', now)
      return
    }
    const cls = classifyLine(line)
    if (cls === null) {
      if (r === undefined) {
        // Outside any report: only remember whether it was a sysrq action (the trigger of what may follow).
        h.sysrqMono = isSysrqLine(line) ? now : -1
        h.lastLine = null
        return
      }
      this.#add(h, r, rec, line, tsUsec, now, false)
      if (r.type === null && r.lines.length > MAX_PENDING_LINES) {
        this.#stats.orphanMarkers++
        this.#drop(h, r)
      }
      return
    }
    if (r !== undefined && r.type !== null) {
      // A dying kernel prints whatever it prints: all of it is the panic's. The die header
      // (`Oops: 0002 [#2]`, `invalid opcode: 0000 [#1]`) follows the `BUG:` / `kernel BUG at`
      // title of the same report.
      if (r.type === 'panic' || (cls.kind === 'die' && !r.sawDie && r.end === 'trace')) {
        if (cls.kind === 'die') r.sawDie = true
        this.#add(h, r, rec, line, tsUsec, now, false)
        return
      }
      // Any other title or marker means the open report is over: its end marker was lost, it
      // has none, or (`Kernel panic` after a WARN with panic_on_warn) the kernel stopped it.
      this.#close(h, r, 'superseded', now, cls.kind === 'start' && cls.type === 'panic')
      r = undefined
    }
    r ??= this.#open(h, rec, lane, tsUsec, now)
    if (cls.kind === 'pre') {
      this.#add(h, r, rec, line, tsUsec, now, false)
      return
    }
    r.type = cls.type
    r.end = cls.end
    r.preLines = r.lines.slice(1)
    r.titleIdx = r.lines.length
    if (cls.kind === 'die') r.sawDie = true
    this.#add(h, r, rec, line, tsUsec, now, true)
  }

  #open (h: HostState, rec: NetconsRecord, lane: string, tsUsec: number | null, now: number): Report {
    if (h.reports.length >= this.#cfg.maxOpenReportsPerHost) {
      const oldest = h.reports[0]!
      this.#close(h, oldest, oldest.type === null ? 'idle' : 'evicted', now)
    }
    const r: Report = {
      type: null,
      end: 'idle',
      lane,
      lines: [],
      titleIdx: 0,
      preLines: [],
      bytes: 0,
      totalLines: 0,
      droppedLines: 0,
      sawCallTrace: false,
      sawDie: false,
      firstMono: now,
      lastMono: now,
      firstAt: rec.receivedAt,
      lastAt: rec.receivedAt,
      firstTsUsec: tsUsec,
      lastTsUsec: tsUsec,
      firstSeq: rec.seq,
      lastSeq: rec.seq,
      minLevel: rec.level,
      lost: 0,
      incomplete: false,
      release: rec.release,
      trigger: h.sysrqMono >= 0 && now - h.sysrqMono <= SYSRQ_TRIGGER_MS ? 'sysrq' : null,
      sample: rec
    }
    h.sysrqMono = -1
    h.reports.push(r)
    this.#active.add(h)
    return r
  }

  #add (h: HostState, r: Report, rec: NetconsRecord, line: string, tsUsec: number | null, now: number, isTitle: boolean): void {
    r.totalLines++
    r.lastMono = now
    r.lastAt = rec.receivedAt
    if (tsUsec !== null) { r.lastTsUsec = tsUsec; r.firstTsUsec ??= tsUsec }
    if (rec.seq !== null) {
      if (r.lastSeq !== null && rec.seq > r.lastSeq + 1 && rec.lostBefore > 0) r.lost += rec.lostBefore
      r.lastSeq = rec.seq
      r.firstSeq ??= rec.seq
    }
    if (rec.level !== null && (r.minLevel === null || rec.level < r.minLevel)) r.minLevel = rec.level
    if (rec.incomplete) r.incomplete = true
    if (r.release === null && rec.release !== null) r.release = rec.release
    if (isCallTraceHeader(line)) r.sawCallTrace = true
    // Beyond the caps lines are only counted (the end marker is still seen); the title is always kept.
    if (!isTitle && (r.lines.length >= this.#cfg.maxLinesPerReport || r.bytes + line.length > this.#cfg.maxBytesPerReport)) {
      r.droppedLines++
      this.#stats.droppedLines++
      h.lastLine = null
      return
    }
    r.lines.push(line)
    r.bytes += line.length + 1
    h.lastLine = { report: r, idx: r.lines.length - 1 }
  }

  #drop (h: HostState, r: Report): void {
    const i = h.reports.indexOf(r)
    if (i >= 0) h.reports.splice(i, 1)
    if (h.lastLine?.report === r) h.lastLine = null
    this.#maybeIdle(h)
  }

  // ---- closing and emitting ----------------------------------------------------------------

  /** `byPanic`: a panic cut the report short; it is as complete as the kernel made it. */
  #close (h: HostState, r: Report, reason: EndReason, now: number, byPanic = false): void {
    this.#drop(h, r)
    if (r.type === null) {
      this.#stats.orphanMarkers++
      return
    }
    const partial = !byPanic && (reason === 'superseded' || reason === 'max_duration' || reason === 'evicted' ||
      reason === 'shutdown' || (reason === 'idle' && hasEndMarker(r.end)))
    if (partial) this.#stats.partial[reason] = (this.#stats.partial[reason] ?? 0) + 1

    const type = r.type
    const cause = h.lastIncident !== null && now - h.lastIncident.mono <= CAUSE_WINDOW_MS && !h.lastIncident.panic
      ? h.lastIncident
      : null
    const a = analyzeReport(type, r.lines, r.titleIdx, { signatureFrames: this.#cfg.signatureFrames, cause, preLines: r.preLines })
    h.lastIncident = { type, function: a.function, frames: a.frames, mono: now, panic: type === 'panic' }
    const release = a.release ?? r.release ?? h.release
    const hardware = a.hardware ?? h.hardware
    h.release = release
    h.hardware = hardware

    if (!this.#types.has(type)) {
      this.#stats.disabledType++
      return
    }
    const title = r.lines[r.titleIdx] ?? ''
    const info: IncidentInfo = {
      type,
      title,
      signature: a.signature,
      function: a.function,
      frames: a.frames,
      id: `${r.sample.src}/${r.firstTsUsec ?? r.firstAt}/${r.firstSeq ?? ''}/${type}/${this.#thread}.${++this.#seq}`,
      summary: a.summary,
      signatureId: a.signatureId,
      firstAt: r.firstAt,
      lastAt: r.lastAt,
      firstTsUsec: r.firstTsUsec,
      lastTsUsec: r.lastTsUsec,
      firstSeq: r.firstSeq,
      lastSeq: r.lastSeq,
      cpu: a.cpu,
      pid: a.pid,
      comm: a.comm,
      taint: a.taint,
      release,
      hardware,
      modules: a.modules,
      message: a.message,
      text: r.lines.join('\n'),
      lines: r.totalLines,
      droppedLines: r.droppedLines,
      partial,
      endReason: reason,
      lost: r.lost,
      trigger: r.trigger,
      details: a.details
    }
    if (r.incomplete) info.details!.incompleteRecords = 1
    this.#stats.incidents[type] = (this.#stats.incidents[type] ?? 0) + 1
    const s = r.sample
    this.#emit({
      kind: 'incident',
      format: s.format,
      src: s.src,
      srcPort: s.srcPort,
      host: s.host,
      thread: this.#thread,
      seq: r.firstSeq,
      facility: 0,
      level: r.minLevel,
      tsUsec: r.firstTsUsec,
      text: title,
      raw: Buffer.from(title, 'utf8'),
      dict: [],
      release: info.release ?? null,
      contStart: false,
      cont: false,
      oos: false,
      seqReset: false,
      incomplete: partial || r.incomplete,
      lostBefore: 0,
      receivedAt: r.lastAt,
      attributes: {},
      incident: info
    })
    if (type === 'panic') {
      h.panicMono = now
      h.panicSignature = a.signature
      this.#active.add(h)
    }
  }

  #event (h: HostState, rec: NetconsRecord, type: HostEvent['type'], text: string, fields: Record<string, unknown>): void {
    if (!this.#events.has(type)) return
    this.#stats.events[type] = (this.#stats.events[type] ?? 0) + 1
    const event: HostEvent = { type, ...fields }
    this.#emit({
      kind: 'event',
      format: rec.format,
      src: h.src,
      srcPort: rec.srcPort,
      host: rec.host,
      thread: this.#thread,
      seq: rec.seq,
      facility: 0,
      level: null,
      tsUsec: rec.tsUsec,
      text,
      raw: Buffer.from(text, 'utf8'),
      dict: [],
      release: rec.release,
      contStart: false,
      cont: false,
      oos: false,
      seqReset: rec.seqReset,
      incomplete: false,
      lostBefore: 0,
      receivedAt: rec.receivedAt,
      attributes: {},
      event
    })
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  #reboot (h: HostState, rec: NetconsRecord, now: number, fields: Record<string, unknown>): void {
    // Whatever was open belonged to the previous boot and will never be finished.
    if (h.partial !== null) h.partial = null
    for (const r of [...h.reports]) this.#close(h, r, r.type === null ? 'idle' : 'superseded', now)
    const afterPanic = h.lastIncident?.panic === true
    this.#event(h, rec, 'reboot', 'Host rebooted.', {
      ...fields,
      afterPanic,
      downMs: h.lastAt > 0 ? Math.max(0, rec.receivedAt - h.lastAt) : null
    })
    h.lastIncident = null
    h.release = null
    h.hardware = null
    h.lossAccum = 0
    h.lossGaps = 0
  }

  #loss (h: HostState, rec: NetconsRecord, now: number): void {
    h.lossAccum += rec.lostBefore
    h.lossGaps++
    if (h.lossAccum < this.#cfg.lossThreshold || now - h.lossLastEventMono < this.#cfg.lossIntervalMs) return
    this.#event(h, rec, 'loss', `Lost ${h.lossAccum} messages.`, { lost: h.lossAccum, gaps: h.lossGaps, seq: rec.seq })
    h.lossAccum = 0
    h.lossGaps = 0
    h.lossLastEventMono = now
  }

  // ---- hosts and timers --------------------------------------------------------------------

  #addHost (rec: NetconsRecord, now: number): HostState {
    if (this.#hosts.size >= this.#cfg.maxHosts) this.#evictOne(now)
    const h: HostState = {
      src: rec.src,
      sample: rec,
      referenced: true,
      lastMono: now,
      lastSeq: null,
      lastTsUsec: null,
      lastAt: 0,
      reports: [],
      partial: null,
      lastLine: null,
      sysrqMono: -1,
      lastIncident: null,
      panicMono: null,
      panicSignature: null,
      release: null,
      hardware: null,
      lossAccum: 0,
      lossGaps: 0,
      lossLastEventMono: -Infinity
    }
    this.#hosts.set(rec.src, h)
    return h
  }

  /** CLOCK (second chance): skip hosts seen since the last sweep, forget the first one that was not. */
  #evictOne (now: number): void {
    for (let guard = 0; guard <= 2 * this.#hosts.size; guard++) {
      const first = this.#hosts.entries().next()
      if (first.done === true) return
      const [key, h] = first.value
      this.#hosts.delete(key)
      if (h.referenced) {
        h.referenced = false
        this.#hosts.set(key, h)
        continue
      }
      if (h.partial !== null) this.#flushPartial(h, now)
      for (const r of [...h.reports]) this.#close(h, r, r.type === null ? 'idle' : 'evicted', now)
      this.#active.delete(h)
      if (this.#lastHost === h) this.#lastHost = null
      this.#stats.evictedHosts++
      return
    }
  }

  #maybeIdle (h: HostState): void {
    if (h.reports.length === 0 && h.partial === null && h.panicMono === null) this.#active.delete(h)
  }

  #hostDeadline (h: HostState): number {
    let d = Infinity
    const idle = this.#cfg.idleTimeoutMs
    for (const r of h.reports) {
      const rd = Math.min(r.lastMono + idle, r.firstMono + this.#cfg.maxReportMs)
      if (rd < d) d = rd
    }
    if (h.partial !== null && h.partial.mono + idle < d) d = h.partial.mono + idle
    if (h.panicMono !== null && h.panicMono + this.#cfg.silenceAfterPanicMs < d) d = h.panicMono + this.#cfg.silenceAfterPanicMs
    return d
  }

  #runHostTimers (h: HostState, now: number): void {
    const idle = this.#cfg.idleTimeoutMs
    if (h.partial !== null && now >= h.partial.mono + idle) this.#flushPartial(h, now)
    for (const r of [...h.reports]) {
      if (now >= r.lastMono + idle) this.#close(h, r, 'idle', now)
      else if (now >= r.firstMono + this.#cfg.maxReportMs) this.#close(h, r, 'max_duration', now)
    }
    if (h.panicMono !== null && now >= h.panicMono + this.#cfg.silenceAfterPanicMs) {
      const silentMs = now - h.panicMono
      h.panicMono = null
      this.#event(h, h.sample, 'silent_after_panic', 'Host silent after a panic.', { silentMs, signature: h.panicSignature })
    }
    this.#maybeIdle(h)
  }

  #internalError (err: unknown, now: number): void {
    this.#stats.internalErrors++
    if (this.#logger !== undefined && now - this.#lastErrorLogMono >= 10_000) {
      this.#lastErrorLogMono = now
      this.#logger.error({ err, internalErrors: this.#stats.internalErrors }, 'Incident detector failed on a record; it was skipped.')
    }
  }
}

function msOrNull (usec: number | null): number | null {
  return usec === null ? null : Math.floor(usec / 1000)
}

function findLane (h: HostState, lane: string): Report | undefined {
  const rs = h.reports
  for (let i = rs.length - 1; i >= 0; i--) if (rs[i]!.lane === lane) return rs[i]
  return undefined
}

/** Lines of one CPU belong together: newer kernels tag records with the `cpu=` sysdata entry. */
function laneOf (rec: NetconsRecord): string {
  const d = rec.dict
  for (let i = 0; i < d.length; i++) if (d[i]![0] === 'cpu') return `C${d[i]![1]}`
  return ''
}
