import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { gunzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { FileSink, MAX_WRITE_BYTES, type FileSinkOptions } from '../../../src/sinks/file/index.js'
import { formatJsonLine, formatTextLine } from '../../../src/sinks/file/format.js'
import { nodeFs, type FileSystem } from '../../../src/sinks/file/fs.js'
import type { SinkContext } from '../../../src/sinks/types.js'
import { makeTestRecord, runSinkConformance, testContext } from '../conformance.js'

const sinks: FileSink[] = []
afterEach(async () => { for (const s of sinks.splice(0)) await s.close(100) })

function tmp (): string { return mkdtempSync(join(tmpdir(), 'netconsd-file-')) }

function make (o: FileSinkOptions, ctx: Partial<SinkContext> = {}, fs?: FileSystem): FileSink {
  const s = new FileSink(o, testContext(ctx), fs)
  sinks.push(s)
  return s
}

/** A logger whose lines the test can read. */
function captureLogger (): { logger: pino.Logger, logs: Array<Record<string, unknown>> } {
  const logs: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (s: string) => { logs.push(JSON.parse(s)) } })
  return { logger, logs }
}

const lines = (p: string): string[] => readFileSync(p, 'utf8').split('\n').filter((l) => l !== '')
const host = (name: string, address = '::ffff:10.0.0.1'): { host: { name: string, address: string, labels: Record<string, string> } } =>
  ({ host: { name, address, labels: {} } })

async function waitUntil (cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Wraps the real fs with switchable faults. */
class FaultyFs implements FileSystem {
  /** Paths (substring) whose open fails with this code. */
  openFails: { match: string, code: string } | null = null
  /** Bytes the disk still takes before ENOSPC (null = unlimited). */
  spaceLeft: number | null = null
  writevCalls = 0
  /** The next this many writev calls write only part of what they were given (no error). */
  shortWrites = 0
  openAppend: FileSystem['openAppend'] = async (path, mode) => {
    if (this.openFails !== null && path.includes(this.openFails.match)) {
      throw Object.assign(new Error(`${this.openFails.code}: open '${path}'`), { code: this.openFails.code })
    }
    const f = await nodeFs.openAppend(path, mode)
    return {
      writev: async (bufs) => {
        this.writevCalls++
        if (this.shortWrites > 0) {
          // Short but successful (a signal, a pipe): cut inside the second buffer when there is one.
          this.shortWrites--
          const all = Buffer.concat(bufs)
          return await f.writev([all.subarray(0, Math.min(all.length - 1, bufs[0]!.length + 7))])
        }
        if (this.spaceLeft === null) return await f.writev(bufs)
        if (this.spaceLeft === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
        // A short writev cuts anywhere, also inside a buffer.
        const all = Buffer.concat(bufs)
        const n = Math.min(all.length, this.spaceLeft)
        this.spaceLeft -= n
        return await f.writev([all.subarray(0, n)])
      },
      stat: f.stat,
      close: f.close
    }
  }

  mkdirp = nodeFs.mkdirp
  rename = nodeFs.rename
  unlink = nodeFs.unlink
  readdir = nodeFs.readdir
  exists = nodeFs.exists
  probeWritable: FileSystem['probeWritable'] = async (dir) => {
    if (this.openFails !== null) throw Object.assign(new Error('denied'), { code: this.openFails.code })
    await nodeFs.probeWritable(dir)
  }
}

describe('file sink', () => {
  it('one file per host, text lines, directories created', async () => {
    const dir = tmp()
    const s = make({ path: join(dir, 'sub', '{host}.log') })
    s.write(makeTestRecord({ ...host('web-1'), seq: 1, text: 'one' }))
    s.write(makeTestRecord({ ...host('db-2', '::ffff:10.0.0.2'), seq: 1, text: 'two' }))
    s.write(makeTestRecord({ ...host('web-1'), seq: 2, text: 'three' }))
    await s.flush()
    assert.deepEqual(readdirSync(join(dir, 'sub')).sort(), ['db-2.log', 'web-1.log'])
    assert.deepEqual(lines(join(dir, 'sub', 'web-1.log')).map((l) => l.split(' ').pop()), ['one', 'three'])
    assert.match(lines(join(dir, 'sub', 'db-2.log'))[0]!, /^2023-11-14T22:13:20\.000Z db-2 S000001 T\d{14} F0\/L6 two$/)
    assert.equal(s.stats().sent, 3)
  })

  it('appends to an existing file (never truncates, unlike netconsd\'s logger modules)', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'h.log'), 'old line\n')
    const s = make({ path: join(dir, '{host}.log'), format: 'json' })
    s.write(makeTestRecord({ ...host('h'), text: 'new' }))
    await s.flush()
    const l = lines(join(dir, 'h.log'))
    assert.equal(l[0], 'old line')
    assert.equal(JSON.parse(l[1]!).text, 'new')
  })

  it('size rotation: gzip, at most maxFiles kept, live file within maxFileBytes, newest lines kept in order', async () => {
    const dir = tmp()
    const s = make({ path: join(dir, '{host}.log'), format: 'json', maxFileBytes: 2000, maxFiles: 3 })
    for (let i = 0; i < 60; i++) {
      s.write(makeTestRecord({ ...host('h'), seq: i, text: `line ${i} ` + 'p'.repeat(300) }))
      await s.flush()
    }
    await s.close()
    const names = readdirSync(dir).sort()
    const rotated = names.filter((n) => n.startsWith('h.log.'))
    assert.ok(rotated.length === 3, names.join(','))
    assert.ok(rotated.every((n) => /^h\.log\.\d{8}T\d{6}Z(_\d{4})?\.gz$/.test(n)))
    assert.ok(readFileSync(join(dir, 'h.log')).length <= 2000)
    const st = s.stats()
    assert.ok(st.rotations >= 10)
    assert.equal(st.filesRemoved, st.rotations - 3)
    // What is left is the newest lines, contiguous, in order.
    const kept = [...rotated.map((n) => gunzipSync(readFileSync(join(dir, n))).toString()), readFileSync(join(dir, 'h.log'), 'utf8')]
      .join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).seq as number)
    assert.equal(kept[kept.length - 1], 59)
    assert.deepEqual(kept, kept.map((_, i) => kept[0]! + i))
  })

  it('time rotation at interval boundaries (UTC-aligned)', async () => {
    const dir = tmp()
    const s = make({ path: join(dir, '{host}.log'), rotateIntervalMs: 300, compress: false })
    s.write(makeTestRecord({ ...host('h'), text: 'before' }))
    await s.flush()
    // Wait for the next 300 ms boundary of the epoch.
    await new Promise((resolve) => setTimeout(resolve, 300 - (Date.now() % 300) + 20))
    s.write(makeTestRecord({ ...host('h'), text: 'after' }))
    await s.flush()
    const rotated = readdirSync(dir).filter((n) => n !== 'h.log')
    assert.equal(rotated.length, 1)
    assert.ok(lines(join(dir, rotated[0]!))[0]!.endsWith('before'))
    assert.deepEqual(lines(join(dir, 'h.log')).map((l) => l.split(' ').pop()), ['after'])
  })

  it('on first open: expired rotated files removed, leftovers compressed, stale .gz.tmp removed', async () => {
    const dir = tmp()
    const now = Date.now()
    const st = (ms: number): string => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')
    writeFileSync(join(dir, `h.log.${st(now - 10 * 86_400_000)}.gz`), 'old')
    writeFileSync(join(dir, `h.log.${st(now - 3600_000)}`), 'recent, uncompressed\n')
    writeFileSync(join(dir, `h.log.${st(now - 60_000)}.gz.tmp`), 'partial')
    const s = make({ path: join(dir, '{host}.log'), maxFileBytes: 1_000_000, maxAgeDays: 2, maxFiles: 0 })
    s.write(makeTestRecord({ ...host('h') }))
    await s.close()
    const names = readdirSync(dir).sort()
    assert.deepEqual(names, ['h.log', `h.log.${st(now - 3600_000)}.gz`])
    assert.equal(gunzipSync(readFileSync(join(dir, names[1]!))).toString(), 'recent, uncompressed\n')
  })

  it('reopen() after an external logrotate: new lines go to the new file', async () => {
    const dir = tmp()
    const s = make({ path: join(dir, '{host}.log') })
    s.write(makeTestRecord({ ...host('h'), text: 'first' }))
    await s.flush()
    renameSync(join(dir, 'h.log'), join(dir, 'h.log.1'))
    await s.reopen()
    s.write(makeTestRecord({ ...host('h'), text: 'second' }))
    await s.flush()
    assert.deepEqual(lines(join(dir, 'h.log.1')).map((l) => l.split(' ').pop()), ['first'])
    assert.deepEqual(lines(join(dir, 'h.log')).map((l) => l.split(' ').pop()), ['second'])
  })

  it('several workers appending to one shared file never tear or interleave lines', async () => {
    const dir = tmp()
    const path = join(dir, 'all.jsonl')
    const workerFile = join(fileURLToPath(new URL('.', import.meta.url)), 'shared-writer.worker.js')
    const W = 4
    const N = 1500
    const results = await Promise.all(Array.from({ length: W }, async (_, thread) => await new Promise<{ sent: number }>((resolve, reject) => {
      const w = new Worker(workerFile, { workerData: { path, thread, workerCount: W, lines: N } })
      w.once('message', resolve)
      w.once('error', reject)
    })))
    assert.deepEqual(results.map((r) => r.sent), Array(W).fill(N))
    const all = lines(path)
    assert.equal(all.length, W * N)
    const next = new Array<number>(W).fill(0)
    for (const l of all) {
      const o = JSON.parse(l) as { seq: number, text: string }
      const m = /^w(\d+) #(\d+) (x*)$/.exec(o.text)
      assert.ok(m !== null, 'line intact')
      const t = Number(m[1])
      // Each worker's own lines stay in order.
      assert.equal(Number(m[2]), next[t])
      next[t]!++
    }
  })

  it('a write error (EACCES) is logged with the path, lines are kept and retried, nothing is lost', async () => {
    const dir = tmp()
    const fs = new FaultyFs()
    fs.openFails = { match: 'h.log', code: 'EACCES' }
    const { logger, logs } = captureLogger()
    const s = make({ path: join(dir, '{host}.log'), retryBackoffMs: 20, retryBackoffMaxMs: 50 }, { logger }, fs)
    assert.equal((await s.health()).ok, false)
    for (let i = 0; i < 10; i++) s.write(makeTestRecord({ ...host('h'), seq: i }))
    await waitUntil(() => s.stats().writeErrors >= 2)
    const err = logs.find((l) => l.msg === 'file sink write failed; lines kept and retried')!
    assert.equal(err.path, join(dir, 'h.log'))
    assert.equal(err.errno, 'EACCES')
    assert.equal(s.stats().queueDepth, 10)
    assert.equal(s.stats().failingFiles, 1)
    fs.openFails = null
    await s.flush()
    assert.deepEqual(lines(join(dir, 'h.log')).map((l) => Number(/S(\d+)/.exec(l)![1])), [...Array(10).keys()])
    const st = s.stats()
    assert.equal(st.sent, 10)
    assert.ok(st.retried >= 10)
    assert.equal(st.failingFiles, 0)
    assert.equal((await s.health()).ok, true)
  })

  it('disk full mid-write (short write, then ENOSPC): no torn line once space returns', async () => {
    const dir = tmp()
    const fs = new FaultyFs()
    const s = make({ path: join(dir, '{host}.log'), format: 'json', retryBackoffMs: 10, retryBackoffMaxMs: 20 }, {}, fs)
    fs.spaceLeft = 1000
    const recs = Array.from({ length: 40 }, (_, i) => makeTestRecord({ ...host('h'), seq: i, text: `r${i} ` + 'q'.repeat(100) }))
    for (const r of recs) s.write(r)
    await waitUntil(() => s.stats().writeErrors >= 1)
    assert.ok(s.stats().sent < 40)
    assert.equal(readFileSync(join(dir, 'h.log')).length, 1000, 'the disk took 1000 bytes, ending inside a line')
    fs.spaceLeft = null
    await s.flush()
    assert.deepEqual(lines(join(dir, 'h.log')).map((l) => JSON.parse(l).seq), recs.map((r) => r.seq))
    assert.equal(s.stats().sent, 40)
  })

  it('queue bound: a failing file loses its oldest lines (write_error), healthy files carry on', async () => {
    const dir = tmp()
    const fs = new FaultyFs()
    fs.openFails = { match: 'bad.log', code: 'EROFS' }
    const s = make({ path: join(dir, '{host}.log'), maxQueueBytes: 4096, retryBackoffMs: 60_000, retryBackoffMaxMs: 60_000 }, {}, fs)
    for (let i = 0; i < 20; i++) s.write(makeTestRecord({ ...host('bad', '::ffff:10.0.0.9'), seq: i, text: 'b'.repeat(100) }))
    await waitUntil(() => s.stats().failingFiles === 1)
    assert.equal(s.stats().queueDepth, 20)
    for (let i = 0; i < 200; i++) {
      s.write(makeTestRecord({ ...host('good'), seq: i, text: 'g'.repeat(100) }))
      // Not flush(): it would wait for the failing file too.
      if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await waitUntil(() => s.stats().sent === 200)
    const st = s.stats()
    assert.equal(lines(join(dir, 'good.log')).length, 200)
    assert.ok(st.dropped.write_error! > 0)
    assert.ok(st.queuedBytes <= 4096)
    assert.equal(st.sent + st.dropped.write_error! + st.queueDepth, 220)
    await s.close(50)
    assert.equal(s.stats().sent + s.stats().dropped.write_error! + s.stats().dropped.shutdown_deadline!, 220)
  })

  it('beyond maxQueueBytes with no failing file the new line is dropped (queue_full)', async () => {
    const dir = tmp()
    const s = make({ path: join(dir, '{host}.log'), maxQueueBytes: 1024 })
    for (let i = 0; i < 50; i++) s.write(makeTestRecord({ ...host('h'), seq: i, text: 'z'.repeat(100) }))
    const dropped = s.stats().dropped.queue_full!
    assert.ok(dropped > 0)
    await s.flush()
    assert.equal(lines(join(dir, 'h.log')).length, 50 - dropped)
  })

  it('maxOpenFiles: least recently written files are closed, every line still written', async () => {
    const dir = tmp()
    const s = make({ path: join(dir, '{host}.log'), maxOpenFiles: 2 })
    for (let round = 0; round < 3; round++) {
      for (let h = 0; h < 6; h++) s.write(makeTestRecord({ ...host(`h${h}`, `::ffff:10.0.0.${h}`), seq: round }))
      await s.flush()
      assert.ok(s.stats().openFiles <= 2)
    }
    for (let h = 0; h < 6; h++) assert.equal(lines(join(dir, `h${h}.log`)).length, 3)
  })

  it('close() with a file that keeps failing returns at the deadline and counts the rest', async () => {
    const dir = tmp()
    const fs = new FaultyFs()
    fs.openFails = { match: 'h.log', code: 'ENOSPC' }
    const s = make({ path: join(dir, '{host}.log'), retryBackoffMs: 10 }, {}, fs)
    for (let i = 0; i < 5; i++) s.write(makeTestRecord({ ...host('h') }))
    const t0 = Date.now()
    await s.close(200)
    assert.ok(Date.now() - t0 < 1500)
    assert.equal(s.stats().dropped.shutdown_deadline, 5)
    assert.equal(s.stats().queueDepth, 0)
    s.write(makeTestRecord())
    assert.equal(s.stats().dropped.closed, 1)
  })
})

/** A real full disk: a 64 KiB tmpfs (needs root and mount rights; skipped otherwise). */
function mountTinyTmpfs (): { dir: string, umount: () => void } | null {
  if (process.getuid?.() !== 0) return null
  const dir = tmp()
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' })
  if (r.status !== 0) { rmSync(dir, { recursive: true, force: true }); return null }
  return { dir, umount: () => { spawnSync('umount', [dir]); rmSync(dir, { recursive: true, force: true }) } }
}

describe('file sink on a real full disk (tmpfs)', () => {
  it('ENOSPC and EROFS are retried; once space returns every line is there, whole and in order', async (t) => {
    const m = mountTinyTmpfs()
    if (m === null) { t.skip('cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN); the injected-fault tests cover the logic'); return }
    try {
      const filler = join(m.dir, 'filler')
      writeFileSync(filler, Buffer.alloc(40 * 1024))
      const { logger, logs } = captureLogger()
      const s = make({ path: join(m.dir, 'logs', '{host}.log'), format: 'json', retryBackoffMs: 20, retryBackoffMaxMs: 50 }, { logger })
      // 40 lines of ~1.1 KB: more than the 24 KB left, less than the 64 KB without the filler.
      const N = 40
      for (let i = 0; i < N; i++) {
        s.write(makeTestRecord({ ...host('h'), seq: i, text: `n${i} ` + 'd'.repeat(1000) }))
        if (i % 5 === 0) await new Promise((resolve) => setImmediate(resolve))
      }
      await waitUntil(() => s.stats().writeErrors >= 1)
      assert.ok(logs.some((l) => l.errno === 'ENOSPC' && l.path === join(m.dir, 'logs', 'h.log')))
      assert.equal((await s.health()).ok, false)
      // Read-only now: EROFS, also retried.
      // remount,ro fails (EBUSY) while a file is open for writing; the sink closes it after each failure.
      await waitUntil(() => spawnSync('mount', ['-o', 'remount,ro', m.dir]).status === 0)
      const before = s.stats().writeErrors
      await waitUntil(() => s.stats().writeErrors > before)
      assert.equal(spawnSync('mount', ['-o', 'remount,rw', m.dir]).status, 0)
      rmSync(filler)
      await s.flush()
      const got = lines(join(m.dir, 'logs', 'h.log')).map((l) => JSON.parse(l).seq)
      assert.deepEqual(got, [...Array(N).keys()])
      assert.equal(s.stats().sent, N)
      await s.close()
    } finally {
      m.umount()
    }
  })
})

describe('file sink: conformance', () => {
  runSinkConformance('file', () => {
    const dir = tmp()
    mkdirSync(dir, { recursive: true })
    const sink = new FileSink({ path: join(dir, '{host}.log'), format: 'json' }, testContext())
    const received = (): number => readdirSync(dir).reduce((n, f) => n + (existsSync(join(dir, f)) ? lines(join(dir, f)).length : 0), 0)
    return { sink, received, cleanup: () => { rmSync(dir, { recursive: true, force: true }) } }
  })
})

describe('file sink: batches', () => {
  it('a batch mixing hosts, formats and incidents: every line once, per host in order, same bytes as line by line', async () => {
    const dir = tmp()
    const text = make({ path: join(dir, 'text-{host}.log') })
    const json = make({ path: join(dir, 'json-{host}.log'), format: 'json' })
    const batch = Array.from({ length: 600 }, (_, i) => makeTestRecord({
      ...host(`h${i % 3}`, `::ffff:10.0.0.${i % 3}`), seq: i, text: i % 7 === 0 ? `multi\nline ${i}` : `line ${i} caf\u00e9`,
      ...(i % 50 === 0 ? { kind: 'incident' as const, incident: { type: 'oops', title: 'Oops', signature: 's', function: null, frames: [] } } : {})
    }))
    text.writeBatch(batch)
    json.writeBatch(batch)
    await text.flush()
    await json.flush()
    for (let h = 0; h < 3; h++) {
      const mine = batch.filter((r) => r.host.name === `h${h}`)
      assert.equal(readFileSync(join(dir, `text-h${h}.log`), 'utf8'), mine.map((r) => formatTextLine(r)).join(''))
      assert.equal(readFileSync(join(dir, `json-h${h}.log`), 'utf8'), mine.map((r) => formatJsonLine(r)).join(''))
    }
    assert.equal(text.stats().sent, 600)
    assert.equal(json.stats().sent, 600)
  })

  it('a batch larger than one write (several chunks, > 4 MiB) is written whole and in order, by writev', async () => {
    const dir = tmp()
    const fs = new FaultyFs()
    const s = make({ path: join(dir, 'big.log'), maxQueueBytes: 64 * 1024 * 1024 }, {}, fs)
    const batch = Array.from({ length: 30_000 }, (_, i) => makeTestRecord({ ...host('h'), seq: i, text: `r${i} ` + 'x'.repeat(100 + (i % 200)) }))
    s.writeBatch(batch)
    assert.ok(s.stats().queuedBytes > MAX_WRITE_BYTES)
    await s.flush()
    const got = lines(join(dir, 'big.log'))
    assert.equal(got.length, 30_000)
    assert.deepEqual(got.map((l) => Number(/ S(\d+) /.exec(l)![1])), batch.map((r) => r.seq))
    assert.equal(s.stats().queuedBytes, 0)
    assert.ok(fs.writevCalls >= 2, `more than one writev (${fs.writevCalls})`)
  })

  it('short writev calls that cut inside a buffer: the rest follows, every line once, whole, in order', async () => {
    const dir = tmp()
    const fs = new FaultyFs()
    const s = make({ path: join(dir, 'short.log'), maxQueueBytes: 64 * 1024 * 1024 }, {}, fs)
    fs.shortWrites = 5
    const batch = Array.from({ length: 20_000 }, (_, i) => makeTestRecord({ ...host('h'), seq: i, text: `r${i} ` + 'y'.repeat(50 + (i % 100)) }))
    s.writeBatch(batch)
    await s.flush()
    assert.equal(fs.shortWrites, 0, 'every short write happened')
    const got = lines(join(dir, 'short.log'))
    assert.deepEqual(got.map((l) => Number(/ S(\d+) /.exec(l)![1])), batch.map((r) => r.seq))
    assert.ok(got.every((l, i) => l.endsWith(' r' + i + ' ' + 'y'.repeat(50 + (i % 100)))), 'no torn line')
    assert.equal(s.stats().sent, 20_000)
    assert.equal(s.stats().writeErrors, 0)
  })

  it('a short write inside a chunk of many lines, then a failure: the lines already accepted are all written once, whole', async () => {
    const dir = tmp()
    const fs = new FaultyFs()
    const s = make({ path: join(dir, 'h.log'), retryBackoffMs: 10, retryBackoffMaxMs: 20 }, {}, fs)
    fs.spaceLeft = 5_000
    const batch = Array.from({ length: 300 }, (_, i) => makeTestRecord({ ...host('h'), seq: i, text: `r${i} ` + 'q'.repeat(60) }))
    s.writeBatch(batch)
    await waitUntil(() => s.stats().writeErrors >= 1)
    const sentAtFailure = s.stats().sent
    assert.ok(sentAtFailure > 0 && sentAtFailure < 300, `complete lines before the cut count as sent (${sentAtFailure})`)
    s.writeBatch(batch.slice(0, 10).map((r) => ({ ...r, raw: r.raw, seq: (r.seq ?? 0) + 1000 })))
    fs.spaceLeft = null
    await s.flush()
    const got = lines(join(dir, 'h.log'))
    assert.deepEqual(got.map((l) => Number(/ S(\d+) /.exec(l)![1])), [...batch.map((r) => r.seq), ...batch.slice(0, 10).map((r) => (r.seq ?? 0) + 1000)])
    assert.ok(got.every((l) => /q{60}$/.test(l)), 'no torn line')
    assert.equal(s.stats().sent, 310)
    assert.equal(s.stats().queueDepth, 0)
  })
})

describe('file sink: back-pressure', () => {
  it('pushes back (pressure 1) at 4 MiB of pending lines whatever maxQueueBytes allows, and not at all while a file is failing', async () => {
    const dir = tmp()
    const s = make({ path: join(dir, 'out.log'), maxQueueBytes: 64 * 1024 * 1024 })
    assert.equal(s.pressure(), 0)
    // Written in one turn: nothing can reach the file before this loop ends.
    let n = 0
    while (s.stats().queuedBytes < 4 * 1024 * 1024) s.write(makeTestRecord({ ...host('h'), seq: n++, text: 'p'.repeat(200) }))
    assert.ok(s.pressure() >= 1, `pressure ${s.pressure()} at ${s.stats().queuedBytes} bytes`)
    assert.ok(s.pressure() < 1.01)
    await s.flush()
    assert.equal(s.pressure(), 0)
    assert.equal(lines(join(dir, 'out.log')).length, n)
    await s.close()

    const fs = new FaultyFs()
    fs.openFails = { match: 'bad.log', code: 'EROFS' }
    const f = make({ path: join(dir, 'bad.log'), retryBackoffMs: 60_000, retryBackoffMaxMs: 60_000 }, {}, fs)
    for (let i = 0; i < 30_000; i++) f.write(makeTestRecord({ ...host('h'), seq: i, text: 'p'.repeat(200) }))
    await waitUntil(() => f.stats().failingFiles === 1)
    assert.equal(f.pressure(), 0, 'a failing file keeps its lines for retries without stopping the other sinks')
    await f.close(10)
  })
})
