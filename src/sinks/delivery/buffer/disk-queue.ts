/**
 * A durable, bounded FIFO of byte records on disk: one per sink and worker.
 *
 *   dir/
 *     LOCK                      pid of the process that has it open
 *     ack.json                  {"segment":7,"offset":123456}: everything before is delivered
 *     00000000000000000007.seg  "NCQ1" then frames: u32le length, u32le crc32(payload), payload
 *     00000000000000000008.seg  ← appended to (the active segment)
 *
 * Crash safety: frames are only appended, and a record counts as accepted once its write()
 * returned, so a process crash (even SIGKILL) loses nothing accepted: the data is in the page
 * cache. A torn last frame (power loss, or a kill in the middle of write()) fails its length or
 * CRC check on the next open and is cut off with everything after it in that segment; earlier
 * frames and segments are untouched. `fsync` decides what survives a power loss on top.
 * The ack position is replaced atomically (write a temp file, rename), so after a crash a
 * record is either delivered-and-acked or is read again: at-least-once, and never out of order.
 *
 * Space is counted in file bytes and reclaimed a segment at a time once every record in it is
 * acked. When full, the policy decides: `block` (refuse, the caller keeps the records),
 * `dropNewest` (refuse, counted `buffer_full`) or `dropOldest` (delete the oldest segment,
 * counted `buffer_evicted`).
 *
 * All operations are serialised on one promise chain, so a read never sees a half-written
 * frame and appends stay in order; each is a few syscalls on a local disk.
 */
import { open, readdir, readFile, rename, rm, mkdir, writeFile, type FileHandle } from 'node:fs/promises'
import { crc32 } from 'node:zlib'
import { join } from 'node:path'
import { NetconsdError } from '../../../errors.js'

export type WhenFull = 'block' | 'dropNewest' | 'dropOldest'
export type FsyncPolicy = 'always' | 'interval' | 'never'

export interface DiskQueueOptions {
  dir: string
  /** Disk space the queue may use, bytes. Default 256 MiB. */
  maxBytes?: number
  /** Segment file size, bytes; capped at maxBytes / 4. Default 8 MiB. */
  segmentBytes?: number
  whenFull?: WhenFull
  fsync?: FsyncPolicy
  fsyncIntervalMs?: number
  /** Largest payload accepted, bytes (dropped as `buffer_record_too_big` beyond). Default 1 MiB. */
  maxRecordBytes?: number
}

export interface AppendResult {
  /** Records written (a prefix of the input). */
  accepted: number
  /** Records refused and counted as dropped (too big, or `dropNewest` when full). */
  dropped: number
  /** `block` policy: the records from `accepted` on were not written and not counted; retry later. */
  full: boolean
}

export interface DiskQueueStats {
  /** Records written and not yet acked. */
  records: number
  /** Bytes of the segment files. */
  bytes: number
  maxBytes: number
  appended: number
  acked: number
  /** Records lost, by reason: buffer_full, buffer_evicted, buffer_record_too_big, buffer_corrupt. */
  dropped: Record<string, number>
  /** Bytes cut off at open because they failed their length or CRC check. */
  corruptBytes: number
}

const MAGIC = Buffer.from('NCQ1')
const FRAME_HEADER = 8
const SEGMENT_RE = /^(\d{20})\.seg$/

interface Segment {
  id: number
  /** Valid bytes (header + whole frames). */
  size: number
  /** Records in it. */
  records: number
}

interface Position { seg: number, offset: number, records: number }

/** Directories this process has open, to refuse a second instance on the same directory. */
const openDirs = new Set<string>()

export class DiskQueue {
  readonly dir: string
  readonly maxBytes: number
  readonly segmentBytes: number
  readonly whenFull: WhenFull
  readonly fsync: FsyncPolicy
  readonly maxRecordBytes: number

  #segments: Segment[] = []
  /** Sum of the segments' sizes. */
  #bytes = 0
  /** Active (last) segment's file, opened for appending. */
  #writer: FileHandle | null = null
  #dirty = false
  /** Durable read position: every record before it is delivered. `records` = acked records in that segment. */
  #ack: Position = { seg: 0, offset: MAGIC.length, records: 0 }
  /** Next record to hand out (>= #ack). */
  #read: Position = { seg: 0, offset: MAGIC.length, records: 0 }
  #reader: { id: number, fh: FileHandle } | null = null
  #chain: Promise<unknown> = Promise.resolve()
  #timer: NodeJS.Timeout | null = null
  #closed = false
  #appended = 0
  #acked = 0
  #corruptBytes = 0
  /**
   * Records of evicted segments that had been read (a batch in flight) but not acked. Their fate is
   * the batch's: acked → delivered, rewound → lost (`buffer_evicted`). Counting them evicted at
   * eviction time counted a delivered batch twice (issue 14: 15,665 evicted vs 15,153 lost).
   */
  #evictedInFlight = 0
  readonly #dropped: Record<string, number> = { buffer_full: 0, buffer_evicted: 0, buffer_record_too_big: 0, buffer_corrupt: 0 }

  private constructor (opts: DiskQueueOptions) {
    this.dir = opts.dir
    this.maxBytes = Math.max(4 * 65_536, opts.maxBytes ?? 256 * 2 ** 20)
    this.segmentBytes = Math.max(65_536, Math.min(opts.segmentBytes ?? 8 * 2 ** 20, Math.floor(this.maxBytes / 4)))
    this.whenFull = opts.whenFull ?? 'block'
    this.fsync = opts.fsync ?? 'interval'
    this.maxRecordBytes = Math.min(opts.maxRecordBytes ?? 2 ** 20, this.segmentBytes - MAGIC.length - FRAME_HEADER)
    if (this.fsync === 'interval') {
      this.#timer = setInterval(() => { void this.#serial(async () => { await this.#sync() }).catch(() => {}) }, opts.fsyncIntervalMs ?? 1000)
      this.#timer.unref()
    }
  }

  /** Opens (creating if needed) and recovers the queue in `opts.dir`. */
  static async open (opts: DiskQueueOptions): Promise<DiskQueue> {
    const q = new DiskQueue(opts)
    try {
      await q.#lock()
      await q.#recover()
    } catch (err) {
      q.#stopTimer()
      if (openDirs.has(q.dir) && (err as { code?: string }).code !== 'NETCONSD_ERR_BUFFER_LOCKED') await q.#unlock()
      throw err
    }
    return q
  }

  /**
   * Appends payloads in order. See `AppendResult` for what happens when the queue is full.
   * `atomic` (for `block`): write all or, if they do not all fit, none (`full`, nothing counted).
   */
  append (payloads: readonly Uint8Array[], opts: { atomic?: boolean } = {}): Promise<AppendResult> {
    return this.#serial(async () => {
      if (opts.atomic === true && this.whenFull === 'block') {
        let need = 0
        for (const p of payloads) if (p.length <= this.maxRecordBytes) need += FRAME_HEADER + p.length
        // Each segment started on the way costs its header.
        need += MAGIC.length * (Math.ceil(need / this.segmentBytes) + 1)
        if (this.#bytes + need > this.maxBytes) return { accepted: 0, dropped: 0, full: true }
      }
      return await this.#append(payloads)
    })
  }

  /** Up to `maxRecords` records (and about `maxBytes` bytes) after the last one read. Empty when caught up. */
  read (maxRecords: number, maxBytes = 4 * 2 ** 20): Promise<Buffer[]> {
    return this.#serial(async () => await this.#readRecords(maxRecords, maxBytes))
  }

  /** Everything read so far is delivered: persist that and reclaim finished segments. */
  ack (): Promise<void> {
    return this.#serial(async () => await this.#commit())
  }

  /** Read again from the last ack (after a failed delivery). */
  rewind (): Promise<void> {
    return this.#serial(async () => {
      this.#read = { ...this.#ack }
      // The in-flight records of evicted segments cannot be read again: now they are lost.
      this.#drop('buffer_evicted', this.#evictedInFlight)
      this.#evictedInFlight = 0
    })
  }

  /** Records not yet acked. */
  get size (): number {
    let n = 0
    for (const s of this.#segments) n += s.records
    return n - this.#ack.records
  }

  /** Records not yet read. */
  get unread (): number {
    let n = 0
    for (const s of this.#segments) if (s.id >= this.#read.seg) n += s.records
    return n - this.#read.records
  }

  get bytes (): number { return this.#bytes }

  stats (): DiskQueueStats {
    return {
      records: this.size,
      bytes: this.bytes,
      maxBytes: this.maxBytes,
      appended: this.#appended,
      acked: this.#acked,
      dropped: { ...this.#dropped },
      corruptBytes: this.#corruptBytes
    }
  }

  /** Flushes to disk and releases the directory. Idempotent. */
  close (): Promise<void> {
    if (this.#closed) return this.#chain.then(() => {}, () => {})
    const p = this.#serial(async () => {
      this.#closed = true
      this.#stopTimer()
      if (this.fsync !== 'never') await this.#sync()
      await this.#writer?.close()
      this.#writer = null
      await this.#reader?.fh.close()
      this.#reader = null
      await this.#unlock()
    })
    this.#closed = true
    return p
  }

  // --- internals --------------------------------------------------------------------------

  #serial<T> (fn: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new NetconsdError('NETCONSD_ERR_BUFFER_CLOSED', 'The disk buffer is closed.', { dir: this.dir }))
    }
    const p = this.#chain.then(fn)
    this.#chain = p.catch(() => {})
    return p
  }

  #stopTimer (): void {
    if (this.#timer !== null) { clearInterval(this.#timer); this.#timer = null }
  }

  #segPath (id: number): string {
    return join(this.dir, `${String(id).padStart(20, '0')}.seg`)
  }

  async #lock (): Promise<void> {
    if (openDirs.has(this.dir)) {
      throw new NetconsdError('NETCONSD_ERR_BUFFER_LOCKED', `Disk buffer ${this.dir} is already open in this process.`, { dir: this.dir })
    }
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o750 })
    } catch (err) {
      throw openError(this.dir, err)
    }
    const lockPath = join(this.dir, 'LOCK')
    try {
      const pid = Number((await readFile(lockPath, 'utf8')).trim())
      // Another live process holds it. Our own pid means a previous life of this process (a
      // container restarts as pid 1 again), since this process has not opened it.
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new NetconsdError('NETCONSD_ERR_BUFFER_LOCKED',
          `Disk buffer ${this.dir} is in use by process ${pid}; two daemons must not share a buffer directory.`, { dir: this.dir, pid })
      }
    } catch (err) {
      if ((err as { code?: string }).code === 'NETCONSD_ERR_BUFFER_LOCKED') throw err
      if ((err as { code?: string }).code !== 'ENOENT') throw openError(this.dir, err)
    }
    try {
      await writeFile(lockPath, `${process.pid}\n`)
    } catch (err) {
      throw openError(this.dir, err)
    }
    openDirs.add(this.dir)
  }

  async #unlock (): Promise<void> {
    openDirs.delete(this.dir)
    await rm(join(this.dir, 'LOCK'), { force: true }).catch(() => {})
  }

  async #recover (): Promise<void> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err) {
      throw openError(this.dir, err)
    }
    const ids = names.map((n) => SEGMENT_RE.exec(n)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b)
    for (const n of names) if (n.endsWith('.tmp')) await rm(join(this.dir, n), { force: true })
    let ack: { segment: number, offset: number } | null = null
    try {
      const j = JSON.parse(await readFile(join(this.dir, 'ack.json'), 'utf8')) as { segment?: unknown, offset?: unknown }
      if (Number.isSafeInteger(j.segment) && Number.isSafeInteger(j.offset)) ack = { segment: j.segment as number, offset: j.offset as number }
    } catch { /* none yet, or unreadable: start at the oldest segment */ }

    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!
      // Fully delivered segments whose deletion a crash interrupted.
      if (ack !== null && id < ack.segment) { await rm(this.#segPath(id), { force: true }); continue }
      const seg = await this.#scan(id, i === ids.length - 1)
      if (seg !== null) { this.#segments.push(seg); this.#bytes += seg.size }
    }
    const first = this.#segments[0]
    if (first !== undefined) {
      const pos: Position = { seg: first.id, offset: MAGIC.length, records: 0 }
      if (ack !== null && ack.segment === first.id && ack.offset > MAGIC.length) {
        // Count the acked records: walk frame headers up to the ack offset.
        const fh = await open(this.#segPath(first.id), 'r')
        try {
          let off = MAGIC.length
          const h = Buffer.alloc(FRAME_HEADER)
          while (off < ack.offset && off < first.size) {
            await fh.read(h, 0, FRAME_HEADER, off)
            off += FRAME_HEADER + h.readUInt32LE(0)
            pos.records++
          }
          pos.offset = Math.min(off, first.size)
        } finally {
          await fh.close()
        }
      }
      this.#ack = pos
      this.#read = { ...pos }
    }
    const last = this.#segments.at(-1)
    const nextId = last === undefined ? Math.max(1, (ack?.segment ?? 0)) : last.id
    if (last === undefined || last.size >= this.segmentBytes) await this.#newSegment(last === undefined ? nextId : nextId + 1)
    else this.#writer = await open(this.#segPath(last.id), 'a')
    if (this.#segments.length === 1 && this.#segments[0]!.records === 0) {
      this.#ack = { seg: this.#segments[0]!.id, offset: MAGIC.length, records: 0 }
      this.#read = { ...this.#ack }
    }
  }

  /** Validates a segment; cuts a torn tail off the last one. Null for an empty or headerless file (removed). */
  async #scan (id: number, isLast: boolean): Promise<Segment | null> {
    const path = this.#segPath(id)
    const data = await readFile(path)
    if (data.length < MAGIC.length || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
      this.#corruptBytes += data.length
      await rm(path, { force: true })
      return null
    }
    let off = MAGIC.length
    let records = 0
    while (off + FRAME_HEADER <= data.length) {
      const len = data.readUInt32LE(off)
      const end = off + FRAME_HEADER + len
      if (len > this.maxRecordBytes + 2 ** 20 || end > data.length) break
      if (crc32(data.subarray(off + FRAME_HEADER, end)) !== data.readUInt32LE(off + 4)) break
      off = end
      records++
    }
    if (off < data.length) {
      this.#corruptBytes += data.length - off
      // The last segment is appended to again, so the garbage must go; an earlier one is only
      // read up to `size`, so it is left as it is (evidence for a post-mortem).
      if (isLast) {
        const fh = await open(path, 'r+')
        try { await fh.truncate(off) } finally { await fh.close() }
      }
    }
    return { id, size: off, records }
  }

  async #newSegment (id: number): Promise<void> {
    if (this.#writer !== null) {
      if (this.fsync !== 'never') await this.#writer.datasync()
      await this.#writer.close()
    }
    const fh = await open(this.#segPath(id), 'wx')
    await fh.write(MAGIC, 0, MAGIC.length, 0)
    this.#writer = await open(this.#segPath(id), 'a')
    await fh.close()
    this.#segments.push({ id, size: MAGIC.length, records: 0 })
    this.#bytes += MAGIC.length
    this.#dirty = true
  }

  async #append (payloads: readonly Uint8Array[]): Promise<AppendResult> {
    const result: AppendResult = { accepted: 0, dropped: 0, full: false }
    let i = 0
    while (i < payloads.length) {
      // Gather frames that fit in the active segment.
      const active = this.#segments.at(-1)!
      const frames: Buffer[] = []
      let bytes = 0
      let n = 0
      for (; i < payloads.length; i++) {
        const p = payloads[i]!
        if (p.length > this.maxRecordBytes) {
          if (n > 0) break // keep order: write what we have first
          this.#drop('buffer_record_too_big', 1)
          result.dropped++
          continue
        }
        const size = FRAME_HEADER + p.length
        if (active.size + bytes + size > this.segmentBytes && (active.records > 0 || n > 0)) break
        if (this.bytes + bytes + size > this.maxBytes && !(await this.#makeRoom(bytes + size))) break
        const h = Buffer.allocUnsafe(FRAME_HEADER)
        h.writeUInt32LE(p.length, 0)
        h.writeUInt32LE(crc32(p), 4)
        frames.push(h, Buffer.from(p.buffer, p.byteOffset, p.length))
        bytes += size
        n++
      }
      if (n > 0) {
        await this.#writeAll(Buffer.concat(frames, bytes))
        active.size += bytes
        this.#bytes += bytes
        active.records += n
        this.#appended += n
        result.accepted += n
        this.#dirty = true
      }
      if (i >= payloads.length) break
      const p = payloads[i]!
      if (p.length > this.maxRecordBytes) continue
      const size = FRAME_HEADER + p.length
      if (this.bytes + size > this.maxBytes && !(await this.#makeRoom(size))) {
        // Full: policy decides about the rest.
        if (this.whenFull === 'block') {
          result.full = true
          break
        }
        const rest = payloads.length - i
        this.#drop('buffer_full', rest)
        result.dropped += rest
        break
      }
      // The active segment is full: start the next one.
      await this.#newSegment(active.id + 1)
    }
    if (this.fsync === 'always' && this.#dirty) await this.#sync()
    return result
  }

  async #writeAll (buf: Buffer): Promise<void> {
    let off = 0
    while (off < buf.length) {
      const { bytesWritten } = await this.#writer!.write(buf, off, buf.length - off)
      off += bytesWritten
    }
  }

  /** dropOldest: delete whole oldest segments until `need` more bytes fit. False if it cannot (other policies, or nothing to delete). */
  async #makeRoom (need: number): Promise<boolean> {
    if (this.whenFull !== 'dropOldest') return false
    while (this.bytes + need > this.maxBytes) {
      const oldest = this.#segments[0]
      if (oldest === undefined || this.#segments.length < 2) return false
      const unacked = oldest.id === this.#ack.seg ? oldest.records - this.#ack.records : oldest.records
      // Read but not acked (the batch in flight) is decided by its ack or rewind, not here.
      const lost = this.#read.seg === oldest.id ? oldest.records - this.#read.records : this.#read.seg < oldest.id ? unacked : 0
      this.#evictedInFlight += unacked - lost
      this.#segments.shift()
      this.#bytes -= oldest.size
      if (this.#reader?.id === oldest.id) { await this.#reader.fh.close(); this.#reader = null }
      await rm(this.#segPath(oldest.id), { force: true })
      this.#drop('buffer_evicted', lost)
      const next = this.#segments[0]!
      if (this.#ack.seg <= oldest.id) this.#ack = { seg: next.id, offset: MAGIC.length, records: 0 }
      if (this.#read.seg <= oldest.id) this.#read = { seg: next.id, offset: MAGIC.length, records: 0 }
      await this.#writeAck()
    }
    return true
  }

  async #readRecords (maxRecords: number, maxBytes: number): Promise<Buffer[]> {
    const out: Buffer[] = []
    let bytes = 0
    while (out.length < maxRecords && bytes < maxBytes) {
      const idx = this.#segments.findIndex((s) => s.id === this.#read.seg)
      const seg = this.#segments[idx]
      if (seg === undefined) break
      if (this.#read.offset >= seg.size) {
        const next = this.#segments[idx + 1]
        if (next === undefined) break
        this.#read = { seg: next.id, offset: MAGIC.length, records: 0 }
        continue
      }
      if (this.#reader?.id !== seg.id) {
        await this.#reader?.fh.close()
        this.#reader = { id: seg.id, fh: await open(this.#segPath(seg.id), 'r') }
      }
      const want = Math.min(seg.size - this.#read.offset, Math.max(maxBytes - bytes, FRAME_HEADER + 1), 2 ** 20)
      const chunk = Buffer.allocUnsafe(Math.max(want, FRAME_HEADER))
      const { bytesRead } = await this.#reader.fh.read(chunk, 0, chunk.length, this.#read.offset)
      // The file is shorter than the scan found it (changed behind our back): treat as its end.
      if (bytesRead < FRAME_HEADER) { seg.size = this.#read.offset; continue }
      let off = 0
      while (off + FRAME_HEADER <= bytesRead && out.length < maxRecords) {
        const len = chunk.readUInt32LE(off)
        const end = off + FRAME_HEADER + len
        if (end > bytesRead) break
        const payload = chunk.subarray(off + FRAME_HEADER, end)
        off = end
        this.#read.records++
        if (crc32(payload) !== chunk.readUInt32LE(end - len - 4)) {
          // Bit rot after it was written (scan at open found it good): skip it, counted.
          this.#drop('buffer_corrupt', 1)
          continue
        }
        out.push(payload)
        bytes += len
        if (bytes >= maxBytes) break
      }
      if (off === 0) {
        // One frame larger than the chunk: read exactly it.
        const len = chunk.readUInt32LE(0)
        const big = Buffer.allocUnsafe(FRAME_HEADER + len)
        await this.#reader.fh.read(big, 0, big.length, this.#read.offset)
        this.#read.offset += big.length
        this.#read.records++
        const payload = big.subarray(FRAME_HEADER)
        if (crc32(payload) !== big.readUInt32LE(4)) { this.#drop('buffer_corrupt', 1); continue }
        out.push(payload)
        bytes += len
        continue
      }
      this.#read.offset += off
    }
    return out
  }

  async #commit (): Promise<void> {
    const delivered = this.#recordsBetween(this.#ack, this.#read) + this.#evictedInFlight
    this.#evictedInFlight = 0
    if (delivered === 0 && this.#ack.offset === this.#read.offset && this.#ack.seg === this.#read.seg) return
    this.#ack = { ...this.#read }
    this.#acked += delivered
    // Finished segments before the ack position (never the active one) go.
    while (this.#segments.length > 1 && this.#segments[0]!.id < this.#ack.seg) {
      const s = this.#segments.shift()!
      this.#bytes -= s.size
      if (this.#reader?.id === s.id) { await this.#reader.fh.close(); this.#reader = null }
      await this.#writeAck()
      await rm(this.#segPath(s.id), { force: true })
    }
    const head = this.#segments[0]!
    if (this.#segments.length > 1 && head.id === this.#ack.seg && this.#ack.offset >= head.size) {
      this.#segments.shift()
      this.#bytes -= head.size
      const next = this.#segments[0]!
      this.#ack = { seg: next.id, offset: MAGIC.length, records: 0 }
      if (this.#read.seg === head.id) this.#read = { ...this.#ack }
      if (this.#reader?.id === head.id) { await this.#reader.fh.close(); this.#reader = null }
      await this.#writeAck()
      await rm(this.#segPath(head.id), { force: true })
      return
    }
    await this.#writeAck()
  }

  #recordsBetween (a: Position, b: Position): number {
    if (a.seg === b.seg) return b.records - a.records
    let n = 0
    for (const s of this.#segments) {
      if (s.id === a.seg) n += s.records - a.records
      else if (s.id > a.seg && s.id < b.seg) n += s.records
      else if (s.id === b.seg) n += b.records
    }
    return n
  }

  async #writeAck (): Promise<void> {
    const tmp = join(this.dir, 'ack.json.tmp')
    const fh = await open(tmp, 'w')
    try {
      await fh.write(JSON.stringify({ segment: this.#ack.seg, offset: this.#ack.offset }) + '\n')
      if (this.fsync === 'always') await fh.datasync()
    } finally {
      await fh.close()
    }
    await rename(tmp, join(this.dir, 'ack.json'))
  }

  async #sync (): Promise<void> {
    if (!this.#dirty || this.#writer === null) return
    this.#dirty = false
    await this.#writer.datasync()
  }

  #drop (reason: string, n: number): void {
    if (n > 0) this.#dropped[reason] = (this.#dropped[reason] ?? 0) + n
  }
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as { code?: string }).code === 'EPERM'
  }
}

function openError (dir: string, err: unknown): NetconsdError {
  const code = (err as { code?: string }).code
  return new NetconsdError('NETCONSD_ERR_BUFFER_OPEN',
    `Disk buffer directory ${dir} cannot be used: ${code ?? String(err)}. Check that it exists and is writable by the daemon's user (systemd: StateDirectory=).`,
    { dir, errno: code }, { cause: err })
}
