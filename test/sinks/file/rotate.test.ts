import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync, existsSync, unlinkSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expired, gzipFile, listRotated, rotateFile, stamp, stampToMs } from '../../../src/sinks/file/rotate.js'
import { nodeFs } from '../../../src/sinks/file/fs.js'

describe('file rotation helpers', () => {
  it('stamps are UTC, second precision, and parse back', () => {
    const t = Date.UTC(2024, 0, 2, 3, 4, 5, 678)
    assert.equal(stamp(t), '20240102T030405Z')
    assert.equal(stampToMs(stamp(t)), Date.UTC(2024, 0, 2, 3, 4, 5))
  })

  it('rotateFile never overwrites; listRotated sorts oldest first and ignores other files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netconsd-rot-'))
    const live = join(dir, 'h.log')
    const t = Date.UTC(2024, 0, 1)
    writeFileSync(live, 'a\n')
    const r1 = await rotateFile(nodeFs, live, t)
    writeFileSync(live, 'b\n')
    const r2 = await rotateFile(nodeFs, live, t)
    assert.equal(r1, `${live}.20240101T000000Z`)
    assert.equal(r2, `${live}.20240101T000000Z_0001`)
    for (let i = 0; i < 10; i++) { writeFileSync(live, `${i}\n`); await rotateFile(nodeFs, live, t) }
    // Byte order of the names (ls, shell globs in the C locale) is rotation order.
    const byName = (await listRotated(nodeFs, live)).files.map((f) => f.path).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    assert.deepEqual(byName.map((p) => readFileSync(p, 'utf8')), ['a\n', 'b\n', ...Array.from({ length: 10 }, (_, i) => `${i}\n`)])
    for (const p of byName.slice(2)) unlinkSync(p)
    writeFileSync(join(dir, 'h.log.20231231T000000Z.gz'), '')
    writeFileSync(join(dir, 'h.log.20231231T235959Z-3'), '') // an earlier version's suffix
    writeFileSync(join(dir, 'h.log.notastamp'), '')
    writeFileSync(join(dir, 'h.log.20240101T000000Z.gz.tmp'), '')
    writeFileSync(join(dir, 'other.log.20220101T000000Z'), '')
    const { files, tmp } = await listRotated(nodeFs, live)
    assert.deepEqual(files.map((f) => f.path.slice(dir.length + 1)), ['h.log.20231231T000000Z.gz', 'h.log.20231231T235959Z-3', 'h.log.20240101T000000Z', 'h.log.20240101T000000Z_0001'])
    assert.deepEqual(tmp.map((p) => p.slice(dir.length + 1)), ['h.log.20240101T000000Z.gz.tmp'])
  })

  it('gzipFile replaces the file by its .gz', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netconsd-rot-'))
    const p = join(dir, 'x.log.20240101T000000Z')
    writeFileSync(p, 'line\n'.repeat(1000))
    const gz = await gzipFile(nodeFs, p, 0o640)
    assert.equal(existsSync(p), false)
    assert.equal(gunzipSync(readFileSync(gz)).toString(), 'line\n'.repeat(1000))
  })

  it('expired: by count and by age', () => {
    const day = 86_400_000
    const now = Date.UTC(2024, 5, 1)
    const files = [40, 20, 10, 2, 1].map((d, i) => ({ path: `f${i}`, stampMs: now - d * day, n: 0, compressed: true }))
    assert.deepEqual(expired(files, { maxFiles: 3, maxAgeDays: 0 }, now).map((f) => f.path), ['f0', 'f1'])
    assert.deepEqual(expired(files, { maxFiles: 0, maxAgeDays: 15 }, now).map((f) => f.path), ['f0', 'f1'])
    assert.deepEqual(expired(files, { maxFiles: 2, maxAgeDays: 30 }, now).map((f) => f.path), ['f0', 'f1', 'f2'])
    assert.deepEqual(expired(files, { maxFiles: 0, maxAgeDays: 0 }, now), [])
  })
})
