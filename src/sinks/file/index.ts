/**
 * `type: "file"`: records as lines in files, one file per host (`/var/log/netcons/{host}.log`,
 * like netconsd's logger modules), per worker (`{thread}`), or one file.
 *
 *   write(record) ──► line (text | json) ──► pending lines of its file ──► one write() per 64 KiB / 10 ms
 *     (sync, never      │ bounded: maxQueueBytes per sink instance         │ O_APPEND, whole lines,
 *      throws)          ▼ full: drop from a failing file first, else         ▼ one writev() of the chunks
 *                         the new line (`write_error` / `queue_full`)       ≤ 4 MiB per writev()
 *                                                                           rotate (size | interval)
 *                                                                           → rename → gzip → retention
 *   write error (ENOSPC, EACCES, EROFS…): logged with the path, the file is closed, its lines stay
 *   queued and the write is retried with backoff (`retryBackoffMs` doubling to `retryBackoffMaxMs`).
 *
 * Several workers, no torn or interleaved lines:
 * - Each worker has its own sink instance. A host's records always go to the same worker, so a
 *   per-host (or per-worker) file has exactly one writer, which is also the only one to rotate it.
 * - A file shared by all workers (no {host}/{address}/{thread} in the path) is opened with
 *   O_APPEND by each, and each batch of whole lines goes out in one writev() of at most 4 MiB.
 *   On Linux local file systems (ext4, xfs, btrfs, tmpfs) an O_APPEND write holds the inode lock
 *   for its whole length, so concurrent writes land one after the other, never inside each
 *   other. POSIX does not promise this and NFS does not do it: use per-host files there.
 *   netconsd refuses to rotate a shared file itself (see options.ts): use logrotate and SIGHUP.
 * - `{host}` must name one host: if two senders share a name (a CIDR in the inventory), use
 *   `{address}` so each file keeps a single writer.
 *
 * rotating-file-stream was considered and not used: on a write error it destroys the stream
 * and the buffered lines with it (no retry), it cannot reopen on SIGHUP, has no retention by
 * age, and keeps a stream, timers and a history file per file, which does not fit thousands of
 * per-host files per worker.
 */
import { jitteredDelayMs } from '../delivery/attempt.js'
import { dirname } from 'node:path'
import type { HealthResult, Sink, SinkContext, SinkFactory, SinkStats } from '../types.js'
import type { NetconsRecord } from '../../types.js'
import { NetconsdError } from '../../errors.js'
import { RateLimitedLog } from '../../log.js'
import { LineEncoder, maxLineBytes } from './encode.js'
import { nodeFs, type FileSystem, type WritableFile } from './fs.js'
import { expandPath, resolveFileOptions, staticDir, type FileSinkOptions, type ResolvedFileOptions } from './options.js'
import { expired, gzipFile, listRotated, rotateFile } from './rotate.js'

export type { FileSinkOptions } from './options.js'
export { formatTextLine, formatJsonLine } from './format.js'

/**
 * Largest single writev(): whole lines only, one atomic append (see above). As large as the
 * push-back level, so everything a busy event-loop turn queued goes out in the next write: at
 * 1 MiB per write (one completion per turn, turns of up to 16k datagrams under load) the
 * pending lines grew by ~1 MiB a turn near capacity, reached the push-back level every 40-60 ms
 * and paused reading for 5-14 ms each time (400k msgs/s, -w 1).
 */
export const MAX_WRITE_BYTES = 4 * 1024 * 1024
/** Buffers per writev(): Linux's IOV_MAX (libuv splits larger calls, which would not be one append). */
const IOV_MAX = 1024

export interface FileSinkStats extends SinkStats {
  /** Bytes of lines waiting to be written (bounded by `maxQueueBytes`). */
  queuedBytes: number
  openFiles: number
  /** Files whose last write failed (being retried). */
  failingFiles: number
  /** Failed write attempts (each is logged with its path, rate-limited). */
  writeErrors: number
  rotations: number
  /** Rotated files removed by retention. */
  filesRemoved: number
  lastError: string | null
}

/**
 * Whole lines, formatted in place into one buffer: bytes [start, used) are unwritten, `ends[i]`
 * is where line i ends, lines [first, ends.length) are unsettled. A writer appends to its last
 * chunk until it is full or being written, so the hot path allocates a buffer per chunk, not a
 * Buffer, string or object per line.
 */
interface Chunk {
  buf: Buffer
  start: number
  used: number
  ends: number[]
  first: number
  /** A short write cut a line: its unwritten tail must be written next, never dropped. */
  remainder: boolean
}

const MIN_CHUNK_BYTES = 4096
/** A file with this many bytes pending is written at the next turn; below it, WRITE_DELAY_MS after its first line. */
export const WRITE_NOW_BYTES = 64 * 1024
export const WRITE_DELAY_MS = 10
/** Pending line bytes (per sink instance) at which the worker stops reading its socket (pressure 1). */
const PUSH_BACK_BYTES = 4 * 1024 * 1024
const MAX_CHUNK_BYTES = 256 * 1024

function chunkBytes (c: Chunk): number { return c.used - c.start }

function chunkRecords (c: Chunk): number { return c.ends.length - c.first }

/** What is left of `bufs` after a short write of `done` bytes (views, no copy). */
function unwritten (bufs: Buffer[], done: number): Buffer[] {
  let i = 0
  while (i < bufs.length && done >= bufs[i]!.length) { done -= bufs[i]!.length; i++ }
  const rest = bufs.slice(i)
  if (done > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(done)
  return rest
}

class FileWriter {
  file: WritableFile | null = null
  size = 0
  period = 0
  pending: Chunk[] = []
  pendingBytes = 0
  pendingRecords = 0
  /** Chunks at the head of `pending` being written now (not evictable). */
  inFlight = 0
  drain: Promise<void> | null = null
  failures = 0
  retryAt = 0
  retryTimer: NodeJS.Timeout | null = null
  /** Capacity of the next chunk: grows while the file is busy, so quiet per-host files stay small. */
  chunkCap = MIN_CHUNK_BYTES
  accepted = 0
  settled = 0
  swept = false
  constructor (readonly path: string) {}
}

interface Waiter { left: Map<FileWriter, number>, resolve: () => void }

export class FileSink implements Sink {
  readonly options: Readonly<ResolvedFileOptions>
  readonly #ctx: SinkContext
  readonly #fs: FileSystem
  readonly #enc: LineEncoder
  readonly #rl = new RateLimitedLog(10_000)
  readonly #writers = new Map<string, FileWriter>()
  /** Writers with an open file, least recently used first. */
  readonly #open = new Set<FileWriter>()
  readonly #dirty = new Set<FileWriter>()
  readonly #dirsMade = new Set<string>()
  readonly #pathCache = new Map<string, string>()
  /** Path by host identity: one lookup per record, no key string built (HostInfo objects change on reload). */
  readonly #hostPath = new WeakMap<object, string>()
  /** A pump of the dirty writers is due at the next turn (setImmediate) / later (the write-delay timer). */
  #immediate = false
  #delayTimer: NodeJS.Timeout | null = null
  #waiters: Waiter[] = []
  /** Opens in progress (they hold a slot of maxOpenFiles). */
  #opening = 0
  #slotWaiters: Array<() => void> = []
  #queuedBytes = 0
  #queuedRecords = 0
  #sent = 0
  #retried = 0
  #writeErrors = 0
  #rotations = 0
  #filesRemoved = 0
  #lastError: string | null = null
  readonly #dropped: Record<string, number> = { queue_full: 0, write_error: 0, shutdown_deadline: 0, closed: 0 }
  #background: Promise<void> = Promise.resolve()
  #sweepTimer: NodeJS.Timeout | null = null
  #closing = false
  #deadlineHit = false
  #closePromise: Promise<void> | null = null

  constructor (options: FileSinkOptions, ctx: SinkContext, fs: FileSystem = nodeFs) {
    this.options = Object.freeze(resolveFileOptions(options, ctx.sinkId, ctx.configDir, ctx.workerCount))
    this.#ctx = ctx
    this.#fs = fs
    this.#enc = new LineEncoder(this.options.format)
    if (this.options.maxAgeDays > 0 || this.options.maxFiles > 0) {
      // Retention also runs after every rotation; the hourly sweep catches files that stopped
      // rotating (a host that went quiet) and ages them out.
      this.#sweepTimer = setInterval(() => { for (const w of this.#writers.values()) this.#retention(w.path) }, 3_600_000)
      this.#sweepTimer.unref()
    }
  }

  // --- Sink ---------------------------------------------------------------------------------

  write (rec: NetconsRecord): void {
    if (this.#closing) { this.#drop('closed', 1); return }
    let path: string
    try {
      path = this.#pathFor(rec)
    } catch (err) {
      this.#drop('encode_error', 1)
      this.#log('encode', 'error', { err }, 'file sink could not format a record')
      return
    }
    let w = this.#writers.get(path)
    if (w === undefined) { w = new FileWriter(path); this.#writers.set(path, w) }
    let c = this.#tail(w, maxLineBytes(rec))
    let end: number
    try {
      end = this.#enc.encode(rec, c.buf, c.used)
      if (end < 0) {
        // The reference formatter: JSON, or a line with characters to escape.
        const line = this.#enc.lineString(rec)
        const n = Buffer.byteLength(line)
        if (c.buf.length - c.used < n) c = this.#tail(w, n)
        end = c.used + c.buf.write(line, c.used, 'utf8')
      }
    } catch (err) {
      this.#drop('encode_error', 1)
      this.#log('encode', 'error', { err }, 'file sink could not format a record')
      return
    }
    const len = end - c.used
    if (this.#queuedBytes + len > this.options.maxQueueBytes) {
      if (!this.#makeRoom(len)) { this.#drop('queue_full', 1); return }
      // Room was made by dropping a failing file's chunks: ours may have been one of them.
      if (c !== w.pending.at(-1) && c !== this.#fresh) {
        const moved = this.#tail(w, len)
        c.buf.copy(moved.buf, moved.used, c.used, end)
        end = moved.used + len
        c = moved
      }
    }
    if (c === this.#fresh) { w.pending.push(c); this.#fresh = null }
    c.used = end
    c.ends.push(end)
    w.pendingBytes += len
    w.pendingRecords++
    w.accepted++
    this.#queuedBytes += len
    this.#queuedRecords++
    this.#markDirty(w)
  }

  /** Records of one receive batch: lines go into the files' chunks (written per 64 KiB or 10 ms, see #markDirty). */
  writeBatch (records: readonly NetconsRecord[]): void {
    for (let i = 0; i < records.length; i++) this.write(records[i]!)
  }

  /** A chunk not yet in `pending` (added when its first line is committed). */
  #fresh: Chunk | null = null

  /** The chunk the next line of `w` goes into, with at least `need` bytes of room. */
  #tail (w: FileWriter, need: number): Chunk {
    const last = w.pending.at(-1)
    if (last !== undefined && w.pending.length > w.inFlight && last.buf.length - last.used >= need) return last
    const f = this.#fresh
    if (f !== null && f.buf.length >= need) { f.used = 0; return f }
    const cap = Math.max(need, w.chunkCap)
    if (last !== undefined) w.chunkCap = Math.min(MAX_CHUNK_BYTES, w.chunkCap * 2)
    const c: Chunk = { buf: Buffer.allocUnsafe(cap), start: 0, used: 0, ends: [], first: 0, remainder: false }
    this.#fresh = c
    return c
  }

  /**
   * Pushes back at PUSH_BACK_BYTES of pending lines, long before maxQueueBytes (which is what a
   * failing file may keep for its retries): lines pile up only when the worker's thread is too busy
   * reading to hand the pool its writes, and pausing the socket then gives it the turns. Under a
   * flood at -w 2 the queues held 110–150k lines (~20 MiB per worker) at the 0.75 × maxQueueBytes
   * of before.
   */
  pressure (): number {
    if (this.#closing) return 0
    for (const w of this.#writers.values()) if (w.failures > 0) return 0
    return this.#queuedBytes / Math.min(this.options.maxQueueBytes, PUSH_BACK_BYTES)
  }

  flush (): Promise<void> {
    const left = new Map<FileWriter, number>()
    for (const w of this.#writers.values()) if (w.settled < w.accepted) left.set(w, w.accepted)
    if (left.size === 0) return Promise.resolve()
    const p = new Promise<void>((resolve) => { this.#waiters.push({ left, resolve }) })
    for (const w of left.keys()) this.#markDirty(w, true)
    return p
  }

  close (deadlineMs: number = this.options.shutdownDeadlineMs): Promise<void> {
    this.#closePromise ??= this.#doClose(deadlineMs)
    return this.#closePromise
  }

  /** SIGHUP: close every file; the next line reopens it (logrotate moved it away meanwhile). */
  async reopen (): Promise<void> {
    await Promise.all([...this.#writers.values()].map(async (w) => { await w.drain }))
    await Promise.all([...this.#open].map(async (w) => { await this.#closeFile(w) }))
    this.#ctx.logger.info({ sinkId: this.#ctx.sinkId }, 'file sink reopened its files')
  }

  async health (): Promise<HealthResult> {
    const dir = staticDir(this.options.path)
    try {
      // A health check must not change the machine (check-config runs it): probe the nearest
      // directory that exists; the missing ones below it are created by the first write.
      let probe = dir
      while (!(await this.#fs.exists(probe)) && dirname(probe) !== probe) probe = dirname(probe)
      await this.#fs.probeWritable(probe)
      return { ok: true }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
      return { ok: false, message: `cannot write to ${dir}: ${code}` }
    }
  }

  stats (): FileSinkStats {
    let failingFiles = 0
    for (const w of this.#writers.values()) if (w.failures > 0) failingFiles++
    return {
      sent: this.#sent,
      failed: this.#dropped.write_error ?? 0,
      retried: this.#retried,
      dropped: { ...this.#dropped },
      queueDepth: this.#queuedRecords,
      queuedBytes: this.#queuedBytes,
      openFiles: this.#open.size,
      failingFiles,
      writeErrors: this.#writeErrors,
      rotations: this.#rotations,
      filesRemoved: this.#filesRemoved,
      lastError: this.#lastError
    }
  }

  // --- queue --------------------------------------------------------------------------------

  #pathFor (rec: NetconsRecord): string {
    const byHost = this.#hostPath.get(rec.host)
    if (byHost !== undefined) return byHost
    const key = `${rec.host.name}\0${rec.host.address}`
    let p = this.#pathCache.get(key)
    if (p === undefined) {
      if (this.#pathCache.size >= 10_000) this.#pathCache.clear()
      p = expandPath(this.options.path, rec, this.#ctx.thread, this.#ctx.sinkId)
      this.#pathCache.set(key, p)
    }
    this.#hostPath.set(rec.host, p)
    return p
  }

  /** Frees room by dropping the oldest lines of files that are failing: one broken file must not stop the others. */
  #makeRoom (needed: number): boolean {
    for (const w of this.#writers.values()) {
      if (w.failures === 0) continue
      let i = w.inFlight
      while (this.#queuedBytes + needed > this.options.maxQueueBytes && i < w.pending.length) {
        const c = w.pending[i]!
        if (c.remainder) { i++; continue }
        w.pending.splice(i, 1)
        const n = chunkRecords(c)
        this.#unqueue(w, c)
        this.#drop('write_error', n)
        this.#settle(w, n)
      }
      if (this.#queuedBytes + needed <= this.options.maxQueueBytes) return true
    }
    return false
  }

  #unqueue (w: FileWriter, c: Chunk): void {
    const bytes = chunkBytes(c)
    const records = chunkRecords(c)
    w.pendingBytes -= bytes
    w.pendingRecords -= records
    this.#queuedBytes -= bytes
    this.#queuedRecords -= records
  }

  #settle (w: FileWriter, n: number): void {
    if (n <= 0) return
    w.settled += n
    if (this.#waiters.length === 0) return
    this.#waiters = this.#waiters.filter((wt) => {
      const target = wt.left.get(w)
      if (target !== undefined && w.settled >= target) wt.left.delete(w)
      if (wt.left.size > 0) return true
      wt.resolve()
      return false
    })
  }

  #drop (reason: string, n: number): void {
    this.#dropped[reason] = (this.#dropped[reason] ?? 0) + n
    this.#log(`drop:${reason}`, 'warn', { reason, records: n }, 'file sink dropped records')
  }

  #log (key: string, level: 'warn' | 'error', obj: Record<string, unknown>, msg: string): void {
    const suppressed = this.#rl.check(key)
    if (suppressed < 0) return
    this.#ctx.logger[level]({ sinkId: this.#ctx.sinkId, ...obj, suppressed }, msg)
  }

  /**
   * Lines are written when a file has WRITE_NOW_BYTES pending, or WRITE_DELAY_MS after the first
   * of them, whichever comes first (`flush`, `close` and a full file: at the next turn). A turn at
   * a moderate rate holds a few lines; a write() per file per turn made the thread pool round trip
   * the largest cost per message (7 µs/msg at 100k msgs/s, 4.9 with the delay, bench/threads).
   */
  #markDirty (w: FileWriter, now = false): void {
    this.#dirty.add(w)
    if (this.#immediate) return
    // A queue filling up (a small maxQueueBytes, a busy file) is written at once, not held for the delay.
    if (now || w.pendingBytes >= WRITE_NOW_BYTES || this.#queuedBytes * 4 >= this.options.maxQueueBytes || this.#closing) {
      if (this.#delayTimer !== null) { clearTimeout(this.#delayTimer); this.#delayTimer = null }
      this.#immediate = true
      setImmediate(() => { this.#immediate = false; this.#pumpDirty() })
      return
    }
    // Not unref'd: pending lines are work in progress.
    this.#delayTimer ??= setTimeout(() => { this.#delayTimer = null; this.#pumpDirty() }, WRITE_DELAY_MS)
  }

  #pumpDirty (): void {
    if (this.#immediate || this.#dirty.size === 0) return
    const ws = [...this.#dirty]
    this.#dirty.clear()
    for (const x of ws) this.#pump(x)
  }

  #pump (w: FileWriter): void {
    if (w.drain !== null || w.pending.length === 0 || this.#deadlineHit) return
    if (Date.now() < w.retryAt) return // its retry timer will pump it
    w.drain = this.#drainWriter(w).finally(() => {
      w.drain = null
      // Its file is idle now, so a writer waiting for a maxOpenFiles slot may take it.
      for (const wake of this.#slotWaiters.splice(0)) wake()
      // Forget idle writers whose file the LRU closed, so thousands of quiet hosts cost nothing.
      if (w.file === null && w.pending.length === 0 && w.failures === 0) this.#writers.delete(w.path)
      else if (w.pending.length > 0 && Date.now() >= w.retryAt) this.#markDirty(w, this.#waiters.length > 0)
    })
  }

  // --- writing ------------------------------------------------------------------------------

  async #drainWriter (w: FileWriter): Promise<void> {
    while (w.pending.length > 0 && !this.#deadlineHit && Date.now() >= w.retryAt) {
      let n = 0
      let bytes = 0
      let records = 0
      while (n < w.pending.length && n < IOV_MAX && (n === 0 || bytes + chunkBytes(w.pending[n]!) <= MAX_WRITE_BYTES)) {
        bytes += chunkBytes(w.pending[n]!)
        records += chunkRecords(w.pending[n]!)
        n++
      }
      const chunks = w.pending.slice(0, n)
      // The chunks as they are (no concatenated copy): one writev.
      let bufs = chunks.map((c) => c.buf.subarray(c.start, c.used))
      if (w.failures > 0) this.#retried += records
      w.inFlight = n
      let written = 0
      try {
        await this.#ensureOpen(w)
        await this.#maybeRotate(w, bytes)
        while (written < bytes) {
          const { bytesWritten } = await w.file!.writev(bufs)
          if (bytesWritten <= 0) throw Object.assign(new Error('write() wrote nothing'), { code: 'EIO' })
          written += bytesWritten
          w.size += bytesWritten
          if (written < bytes) bufs = unwritten(bufs, bytesWritten)
        }
        w.inFlight = 0
        w.pending.splice(0, n)
        for (const c of chunks) this.#unqueue(w, c)
        this.#sent += records
        w.failures = 0
        this.#settle(w, records)
      } catch (err) {
        w.inFlight = 0
        if (written > 0) this.#partial(w, chunks, written)
        await this.#failed(w, err)
        return
      }
    }
  }

  /** A short write (disk filled mid-way): complete lines count as written, the cut line's tail goes first next time. */
  #partial (w: FileWriter, chunks: Chunk[], written: number): void {
    let off = 0
    let done = 0
    for (const c of chunks) {
      if (off + chunkBytes(c) > written) break
      off += chunkBytes(c)
      done++
    }
    const full = w.pending.splice(0, done)
    let records = 0
    for (const c of full) { records += chunkRecords(c); this.#unqueue(w, c) }
    const cut = w.pending[0]
    if (cut !== undefined && written > off) {
      const k = written - off
      cut.start += k
      this.#queuedBytes -= k
      w.pendingBytes -= k
      let lines = 0
      while (cut.first < cut.ends.length && cut.ends[cut.first]! <= cut.start) { cut.first++; lines++ }
      w.pendingRecords -= lines
      this.#queuedRecords -= lines
      records += lines
      const lineStart = cut.first > 0 ? cut.ends[cut.first - 1]! : 0
      cut.remainder = cut.first < cut.ends.length && cut.start > lineStart
    }
    this.#sent += records
    this.#settle(w, records)
  }

  async #failed (w: FileWriter, err: unknown): Promise<void> {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    this.#writeErrors++
    w.failures++
    const base = Math.min(this.options.retryBackoffMaxMs, this.options.retryBackoffMs * 2 ** Math.min(w.failures - 1, 30))
    const delay = Math.round(jitteredDelayMs(base))
    w.retryAt = Date.now() + delay
    const error = new NetconsdError('NETCONSD_ERR_SINK_SEND', `cannot write ${w.path}: ${code}`, { path: w.path, errno: code }, { cause: err })
    this.#lastError = error.message
    this.#log(`write:${w.path}:${code}`, 'error', { err: error, path: w.path, errno: code, retryInMs: delay, pendingRecords: w.pendingRecords },
      'file sink write failed; lines kept and retried')
    // Close the file: the retry opens it again, which picks up a re-created directory, a
    // remounted file system or fixed permissions.
    await this.#closeFile(w)
    if (w.retryTimer !== null) clearTimeout(w.retryTimer)
    // Not unref'd: queued lines are work in progress; close() clears the timer.
    // The timer is the retry: clear retryAt so a timer firing a hair early (timers run on the
    // monotonic clock, retryAt is wall-clock) cannot be turned away and leave the lines stranded.
    w.retryTimer = setTimeout(() => { w.retryTimer = null; w.retryAt = 0; this.#pump(w) }, delay)
  }

  async #ensureOpen (w: FileWriter): Promise<void> {
    if (w.file !== null) {
      this.#open.delete(w)
      this.#open.add(w)
      return
    }
    // Keep at most maxOpenFiles open: close the least recently used idle one, or wait until a
    // writer finishes its batch (a file is never closed under a write in progress).
    while (this.#open.size + this.#opening >= this.options.maxOpenFiles) {
      let lru: FileWriter | undefined
      for (const x of this.#open) if (x.drain === null) { lru = x; break }
      if (lru !== undefined) {
        await this.#closeFile(lru)
        if (lru.pending.length === 0 && lru.drain === null && lru.failures === 0) this.#writers.delete(lru.path)
        continue
      }
      await new Promise<void>((resolve) => { this.#slotWaiters.push(resolve) })
    }
    this.#opening++
    try {
      await this.#openFile(w)
    } finally {
      this.#opening--
    }
  }

  async #openFile (w: FileWriter): Promise<void> {
    const dir = dirname(w.path)
    if (!this.#dirsMade.has(dir)) {
      await this.#fs.mkdirp(dir, this.options.dirMode)
      if (this.#dirsMade.size >= 10_000) this.#dirsMade.clear()
      this.#dirsMade.add(dir)
    }
    let file: WritableFile
    try {
      file = await this.#fs.openAppend(w.path, this.options.fileMode)
    } catch (err) {
      // The directory may have been removed since (logrotate olddir, an operator): make it again next time.
      this.#dirsMade.delete(dir)
      throw err
    }
    const st = await file.stat()
    w.file = file
    w.size = st.size
    if (this.options.rotateIntervalMs > 0) w.period = Math.floor((st.size > 0 ? st.mtimeMs : Date.now()) / this.options.rotateIntervalMs)
    this.#open.add(w)
    if (!w.swept && (this.options.maxFileBytes > 0 || this.options.rotateIntervalMs > 0)) {
      // First open in this process: leftovers of an earlier run (uncompressed, expired) are handled now.
      w.swept = true
      this.#retention(w.path)
    }
  }

  async #closeFile (w: FileWriter): Promise<void> {
    const f = w.file
    w.file = null
    if (this.#open.delete(w)) for (const wake of this.#slotWaiters.splice(0)) wake()
    if (f !== null) {
      try { await f.close() } catch { /* nothing left to lose: every write already returned */ }
    }
  }

  async #maybeRotate (w: FileWriter, incoming: number): Promise<void> {
    const { maxFileBytes, rotateIntervalMs } = this.options
    if (maxFileBytes === 0 && rotateIntervalMs === 0) return
    const now = Date.now()
    const period = rotateIntervalMs > 0 ? Math.floor(now / rotateIntervalMs) : 0
    // A batch larger than maxFileBytes still goes into a fresh file whole: lines are never split.
    const bySize = maxFileBytes > 0 && w.size > 0 && w.size + incoming > maxFileBytes
    const byTime = rotateIntervalMs > 0 && w.size > 0 && period !== w.period
    if (!bySize && !byTime) { w.period = period; return }
    await this.#closeFile(w)
    const rotated = await rotateFile(this.#fs, w.path, now)
    this.#rotations++
    this.#ctx.logger.info({ sinkId: this.#ctx.sinkId, path: w.path, rotated, reason: bySize ? 'size' : 'time' }, 'file sink rotated a file')
    await this.#ensureOpen(w)
    w.period = period
    this.#background = this.#background.then(async () => {
      // Retention of an earlier rotation may already have removed it (maxFiles reached).
      if (this.options.compress && await this.#fs.exists(rotated)) {
        try { await gzipFile(this.#fs, rotated, this.options.fileMode) } catch (err) {
          this.#log(`gzip:${rotated}`, 'warn', { err, path: rotated }, 'file sink could not compress a rotated file (kept uncompressed)')
        }
      }
      await this.#applyRetention(w.path)
    })
  }

  /** Queues a retention pass (and compression of leftovers) for one live file. */
  #retention (live: string): void {
    this.#background = this.#background.then(async () => {
      const { files, tmp } = await listRotated(this.#fs, live)
      for (const t of tmp) await this.#fs.unlink(t).catch(() => {})
      if (this.options.compress) {
        for (const f of files) {
          if (f.compressed) continue
          try { await gzipFile(this.#fs, f.path, this.options.fileMode) } catch { /* retried next sweep */ }
        }
      }
      await this.#applyRetention(live)
    })
  }

  async #applyRetention (live: string): Promise<void> {
    if (this.options.maxFiles === 0 && this.options.maxAgeDays === 0) return
    const { files } = await listRotated(this.#fs, live)
    for (const f of expired(files, this.options, Date.now())) {
      try {
        await this.#fs.unlink(f.path)
        this.#filesRemoved++
      } catch (err) {
        this.#log(`retention:${live}`, 'warn', { err, path: f.path }, 'file sink could not remove an old rotated file')
      }
    }
  }

  async #doClose (deadlineMs: number): Promise<void> {
    this.#closing = true
    if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer)
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, deadlineMs) })
    // Failing files retry right away once more instead of waiting out their backoff.
    for (const w of this.#writers.values()) {
      if (w.retryTimer !== null) { clearTimeout(w.retryTimer); w.retryTimer = null }
      w.retryAt = 0
    }
    await Promise.race([this.flush(), deadline])
    clearTimeout(timer)
    this.#deadlineHit = true
    await Promise.race([Promise.all([...this.#writers.values()].map(async (w) => { await w.drain })), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
    for (const w of this.#writers.values()) {
      if (w.retryTimer !== null) { clearTimeout(w.retryTimer); w.retryTimer = null }
      const n = w.pendingRecords
      for (const c of w.pending) this.#unqueue(w, c)
      w.pending = []
      if (n > 0) { this.#drop('shutdown_deadline', n); this.#settle(w, n) }
    }
    await Promise.all([...this.#open].map(async (w) => { await this.#closeFile(w) }))
    // Compression of a just-rotated file may take a while; an unfinished one is redone next start.
    await Promise.race([this.#background, new Promise((resolve) => setTimeout(resolve, Math.max(100, deadlineMs)).unref())])
  }
}

export const createFileSink: SinkFactory<FileSinkOptions> = (options, ctx) => new FileSink(options, ctx)
