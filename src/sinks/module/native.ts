/**
 * netconsd's C output modules (`.so`) as sinks: the shared object is dlopen()ed by a small
 * Node-API addon (`native/cmod.c`), once per process, and called with netconsd's structures
 * (`native/netconsd-module.h`) on the worker thread that owns the host.
 *
 *   worker k: records of one batch ──► FlatBatch (one ArrayBuffer, a fixed header + bytes each)
 *                                        │ one call into the addon per batch
 *                                        ▼
 *             C: for each entry build struct msg_buf / struct ncrx_msg ──► netconsd_output_handler(k, …)
 *
 * What the handler sees is what netconsd's libncrx hands out, not our decoded record: an extended
 * message's `text` is the kernel's `\xNN`-escaped text and `dict` the raw block after the first
 * newline (research spec §5.7), taken from the reassembled wire body (ncrx keeps it for records
 * while a C module is configured: `HostTable.keepWire`). A legacy datagram's `buf` is the payload
 * exactly as sent.
 *
 * Semantics as netconsd (seed README, spec §6): `init(nr_workers)` once per process before the
 * first message (non-zero: start-up fails, NETCONSD_ERR_MODULE_INIT); `handler` concurrently from
 * the workers, `thread` in [0, W); `exit()` once, when the last worker's sink instance has
 * delivered what it held and closed. A C module that crashes takes the process down, as in
 * netconsd: modules are trusted code.
 */
import { createRequire } from 'node:module'
import { closeSync, existsSync, openSync, readSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { NetconsRecord } from '../../types.js'
import type { HealthResult, Sink, SinkContext, SinkStats } from '../types.js'
import { NetconsdError } from '../../errors.js'
import { addressWords } from '../../config/address.js'
import { RateLimitedLog } from '../../log.js'
import { wireBody } from './escape.js'

/** The addon's interface (native/cmod.c). */
interface CmodAddon {
  readonly abi: number
  readonly headerBytes: number
  load: (path: string) => { id: number, init: boolean, exit: boolean }
  init: (id: number, nrWorkers: number) => number
  call: (id: number, thread: number, data: ArrayBuffer, bytes: number, count: number) => number
  release: (id: number) => boolean
}

/** Flat entry ABI this file writes; bumped together with NC_FLAT_ABI in native/cmod.c. */
const FLAT_ABI = 1
const HEADER = 72
const F_CONT_START = 1
const F_CONT = 2
const F_OOS = 4
const F_SEQ_RESET = 8
const F_DICT_NULL = 32
/** A batch is handed over at this size even mid-batch, so the staging buffer stays bounded. */
const FLUSH_BYTES = 4 * 1024 * 1024
const VERSION_MAX = 63

const defaultAddonPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'native', 'build', 'Release', 'netconsd_cmod.node')

const cached = new Map<string, { addon: CmodAddon | null, reason: string }>()

/** The addon, or null with the reason (not built, wrong ABI, does not load). */
export function loadCmodAddon (path = process.env.NETCONSD_CMOD_ADDON ?? defaultAddonPath): { addon: CmodAddon | null, reason: string } {
  let r = cached.get(path)
  if (r !== undefined) return r
  if (!existsSync(path)) {
    r = { addon: null, reason: `the native addon is not built (${path} is missing; npm rebuild builds it, which needs a C compiler and Node's headers)` }
  } else {
    try {
      const m = createRequire(import.meta.url)(path) as CmodAddon
      r = m.abi === FLAT_ABI && m.headerBytes === HEADER
        ? { addon: m, reason: '' }
        : { addon: null, reason: `the native addon at ${path} speaks ABI ${String(m.abi)}, expected ${FLAT_ABI} (npm rebuild)` }
    } catch (err) {
      r = { addon: null, reason: `the native addon at ${path} does not load: ${(err as Error).message}` }
    }
  }
  cached.set(path, r)
  return r
}

/** True when the file is an ELF object (`\x7fELF`), whatever its name. */
export function isSharedObject (path: string): boolean {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const b = Buffer.alloc(4)
    return readSync(fd, b, 0, 4, 0) === 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46
  } catch {
    return false
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

function addon (path: string): CmodAddon {
  const { addon: a, reason } = loadCmodAddon()
  if (a === null) {
    throw new NetconsdError('NETCONSD_ERR_MODULE_LOAD', `Output module ${path} is a C shared object, and ${reason}: C modules need the addon (JS modules do not).`,
      { path, reason })
  }
  return a
}

/** dlopen()s the module and checks its symbols; the caller owns one reference (release it). */
function loadSharedObject (path: string): { addon: CmodAddon, id: number, init: boolean, exit: boolean } {
  const a = addon(path)
  try {
    return { addon: a, ...a.load(path) }
  } catch (err) {
    const reason = (err as Error).message
    throw new NetconsdError('NETCONSD_ERR_MODULE_LOAD', `Output module ${path} failed to load: ${reason}`, { path, reason }, { cause: err })
  }
}

/** Describes a loadable C module without running its init (check-config). */
export function probeSharedObject (path: string): string {
  const m = loadSharedObject(path)
  m.addon.release(m.id)
  const syms = ['handler', ...(m.init ? ['init'] : []), ...(m.exit ? ['exit'] : [])]
  return `C shared object, defines ${syms.join(', ')}`
}

const addrCache = new Map<string, Uint8Array>()

function addressBytes (src: string): Uint8Array {
  let b = addrCache.get(src)
  if (b === undefined) {
    b = new Uint8Array(16)
    const w = addressWords(src)
    if (w !== null) for (let i = 0; i < 4; i++) { b[4 * i] = w[i]! >>> 24; b[4 * i + 1] = (w[i]! >>> 16) & 0xff; b[4 * i + 2] = (w[i]! >>> 8) & 0xff; b[4 * i + 3] = w[i]! & 0xff }
    if (addrCache.size >= 65536) addrCache.clear()
    addrCache.set(src, b)
  }
  return b
}

/** One batch in netconsd's flat form for native/cmod.c. */
class FlatBatch {
  #buf = Buffer.allocUnsafeSlow(64 * 1024)
  #view = new DataView(this.#buf.buffer, 0, this.#buf.length)
  bytes = 0
  count = 0

  get buffer (): ArrayBuffer { return this.#buf.buffer }

  reset (): void { this.bytes = 0; this.count = 0 }

  #reserve (n: number): void {
    if (this.bytes + n <= this.#buf.length) return
    let cap = this.#buf.length * 2
    while (cap < this.bytes + n) cap *= 2
    const next = Buffer.allocUnsafeSlow(cap)
    this.#buf.copy(next, 0, 0, this.bytes)
    this.#buf = next
    this.#view = new DataView(next.buffer, 0, next.length)
  }

  /** Appends a log record; `monoOffsetMs` turns its wall-clock arrival into CLOCK_MONOTONIC ms. */
  add (rec: NetconsRecord, monoOffsetMs: number): void {
    const legacy = rec.format === 'legacy'
    // Text is body[0, textEnd), the dictionary body[dictStart, body.length) (none: dictStart < 0).
    const body = legacy ? rec.raw : wireBody(rec)
    let textEnd = body.length
    let dictStart = -1
    let flags = 0
    if (!legacy) {
      const nl = body.indexOf(0x0a)
      if (nl < 0) flags |= F_DICT_NULL
      else { textEnd = nl; dictStart = nl + 1 }
      if (rec.contStart) flags |= F_CONT_START
      if (rec.cont) flags |= F_CONT
      if (rec.oos) flags |= F_OOS
      if (rec.seqReset) flags |= F_SEQ_RESET
    }
    const version = !legacy && rec.release !== null ? this.#version(rec.release) : null
    const dictLen = dictStart < 0 ? 0 : body.length - dictStart
    const verLen = version?.length ?? 0
    const entry = (HEADER + textEnd + dictLen + verLen + 7) & ~7
    this.#reserve(entry)
    const o = this.bytes
    const v = this.#view
    const b = this.#buf
    v.setUint32(o, entry, true)
    b[o + 4] = legacy ? 0 : 1
    b[o + 5] = rec.facility & 0xff
    b[o + 6] = (rec.level ?? 0) & 0xff
    b[o + 7] = flags
    b.set(this.#address(rec.src), o + 8)
    v.setUint16(o + 24, rec.srcPort, true)
    v.setUint16(o + 26, 0, true)
    v.setUint32(o + 28, textEnd, true)
    v.setUint32(o + 32, dictLen, true)
    v.setUint32(o + 36, verLen, true)
    v.setFloat64(o + 40, rec.seq ?? 0, true)
    v.setFloat64(o + 48, rec.tsUsec ?? 0, true)
    v.setFloat64(o + 56, rec.receivedAt, true)
    v.setFloat64(o + 64, rec.receivedAt + monoOffsetMs, true)
    // Text and dictionary are contiguous in the body with one `\n` between them; copy both ranges.
    body.copy(b, o + HEADER, 0, textEnd)
    if (dictStart >= 0) body.copy(b, o + HEADER + textEnd, dictStart)
    if (version !== null) version.copy(b, o + HEADER + textEnd + dictLen)
    this.bytes = o + entry
    this.count++
  }

  #lastSrc = ''
  #lastAddr: Uint8Array = new Uint8Array(16)
  #address (src: string): Uint8Array {
    if (src !== this.#lastSrc) { this.#lastAddr = addressBytes(src); this.#lastSrc = src }
    return this.#lastAddr
  }

  #lastRelease = ''
  #lastVersion: Buffer = Buffer.alloc(0)
  #version (release: string): Buffer {
    if (release !== this.#lastRelease) { this.#lastVersion = Buffer.from(release.slice(0, VERSION_MAX), 'latin1'); this.#lastRelease = release }
    return this.#lastVersion
  }
}

/** CLOCK_MONOTONIC ms minus wall-clock ms, now (libuv's hrtime is CLOCK_MONOTONIC). */
function monoOffsetMs (): number {
  return Number(process.hrtime.bigint() / 1_000_000n) - Date.now()
}

export class NativeModuleSink implements Sink {
  /** ncrx keeps each extended record's wire body while a sink asks for it. */
  readonly wantsWireBody = true
  readonly #path: string
  readonly #addon: CmodAddon
  readonly #id: number
  readonly #ctx: SinkContext
  readonly #batch = new FlatBatch()
  readonly #errLog = new RateLimitedLog()
  #scheduled = false
  #closed = false
  #sent = 0
  #failed = 0
  #droppedClosed = 0

  constructor (path: string, addon: CmodAddon, id: number, ctx: SinkContext) {
    this.#path = path
    this.#addon = addon
    this.#id = id
    this.#ctx = ctx
  }

  write (rec: NetconsRecord): void {
    if (this.#closed) { this.#droppedClosed++; return }
    // netconsd modules know the two message kinds only; incidents and events are not handed out.
    if (rec.kind !== 'log') return
    this.#batch.add(rec, this.#batch.count === 0 ? (this.#offset = monoOffsetMs()) : this.#offset)
    if (this.#batch.bytes >= FLUSH_BYTES) this.#hand()
    else if (!this.#scheduled) {
      // Records of one receive batch arrive synchronously: hand them over together once the
      // batch's processing is over (one crossing into C per batch).
      this.#scheduled = true
      queueMicrotask(() => { this.#scheduled = false; this.#hand() })
    }
  }

  #offset = 0

  writeBatch (records: readonly NetconsRecord[]): void {
    for (let i = 0; i < records.length; i++) this.write(records[i]!)
    this.#hand()
  }

  #hand (): void {
    const b = this.#batch
    if (b.count === 0) return
    const n = b.count
    try {
      this.#sent += this.#addon.call(this.#id, this.#ctx.thread, b.buffer, b.bytes, n)
    } catch (err) {
      // Only a malformed entry (a bug here) gets here: a crashing module takes the process down.
      this.#failed += n
      const s = this.#errLog.check('call')
      if (s >= 0) this.#ctx.logger.error({ err, module: this.#path, sinkId: this.#ctx.sinkId, suppressed: s }, 'C output module batch failed.')
    }
    b.reset()
  }

  async flush (): Promise<void> {
    this.#hand()
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#hand()
    this.#closed = true
    // The last worker's release runs netconsd_output_exit (after every worker delivered its records).
    this.#addon.release(this.#id)
  }

  async health (): Promise<HealthResult> {
    return { ok: true }
  }

  stats (): SinkStats {
    return { sent: this.#sent, failed: this.#failed, retried: 0, dropped: { handler_error: this.#failed, closed: this.#droppedClosed }, queueDepth: this.#batch.count }
  }
}

/** Loads (once per process) and initialises (once per process) a C module, for one worker. */
export function createNativeModuleSink (path: string, ctx: SinkContext): NativeModuleSink {
  const m = loadSharedObject(path)
  let r: number
  try {
    r = m.addon.init(m.id, ctx.workerCount)
  } catch (err) {
    m.addon.release(m.id)
    throw err
  }
  if (r !== 0) {
    m.addon.release(m.id)
    throw new NetconsdError('NETCONSD_ERR_MODULE_INIT', `Output module ${path}: netconsd_output_init(${ctx.workerCount}) returned ${r}.`,
      { path, reason: `init returned ${r}`, value: r })
  }
  return new NativeModuleSink(path, m.addon, m.id, ctx)
}
