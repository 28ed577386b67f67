/**
 * Rotation, compression and retention of one log file's rotated copies.
 *
 *   web-1.log                              the live file
 *   web-1.log.20240101T000000Z.gz          rotated at that UTC time, then gzipped
 *   web-1.log.20240101T000000Z_0001.gz     a second rotation within the same second
 *
 * The stamp is the rotation time and the same-second counter is zero-padded after a `_`, which
 * sorts after the `.` of the first rotation's name: names sort chronologically in byte order,
 * so `ls`, `zcat web-1.log.*` and other C-locale globs see them oldest first (the `-N` suffix
 * of earlier versions sorted before the bare name; it is still read). Retention by count
 * (`maxFiles`) and by age (`maxAgeDays`) can work from names alone. A rotated file that is not
 * compressed yet (the daemon stopped mid-way) is picked up by the next sweep; a leftover
 * `.gz.tmp` is removed. Only the sink instance that owns a file (one writer per file, see
 * index.ts) rotates it.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { basename, dirname, join } from 'node:path'
import type { FileSystem } from './fs.js'

const STAMP_RE = /^(\d{8}T\d{6}Z)(?:[-_](\d+))?(\.gz)?$/

export function stamp (ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')
}

export function stampToMs (s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s)
  if (m === null) return Number.NaN
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]))
}

export interface RotatedFile {
  path: string
  stampMs: number
  /** Same-second counter (0 for the first). */
  n: number
  compressed: boolean
}

/** Rotated copies of `live`, oldest first; `.gz.tmp` leftovers in `tmp`. */
export async function listRotated (fs: FileSystem, live: string): Promise<{ files: RotatedFile[], tmp: string[] }> {
  const dir = dirname(live)
  const prefix = basename(live) + '.'
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch {
    return { files: [], tmp: [] }
  }
  const files: RotatedFile[] = []
  const tmp: string[] = []
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const rest = name.slice(prefix.length)
    if (rest.endsWith('.gz.tmp')) { tmp.push(join(dir, name)); continue }
    const m = STAMP_RE.exec(rest)
    if (m === null) continue
    files.push({ path: join(dir, name), stampMs: stampToMs(m[1]!), n: Number(m[2] ?? 0), compressed: m[3] !== undefined })
  }
  files.sort((a, b) => a.stampMs - b.stampMs || a.n - b.n)
  return { files, tmp }
}

/**
 * Renames `live` to its rotated name; returns the new path. Within one second the counter goes
 * past every rotation still present, so a name freed by retention is never reused for a newer
 * file (that would put it first in the sort order).
 */
export async function rotateFile (fs: FileSystem, live: string, now: number): Promise<string> {
  const s = stamp(now)
  const sameSecond = (await listRotated(fs, live)).files.filter((f) => f.stampMs === stampToMs(s))
  let n = sameSecond.length === 0 ? 0 : Math.max(...sameSecond.map((f) => f.n)) + 1
  for (;; n++) {
    const target = n === 0 ? `${live}.${s}` : `${live}.${s}_${String(n).padStart(4, '0')}`
    // Never overwrite an earlier rotation (or its compressed form).
    if (await fs.exists(target) || await fs.exists(target + '.gz')) continue
    await fs.rename(live, target)
    return target
  }
}

/** gzip `path` to `path.gz` through a temporary name, then remove `path`. */
export async function gzipFile (fs: FileSystem, path: string, mode: number): Promise<string> {
  const tmp = path + '.gz.tmp'
  try {
    await pipeline(createReadStream(path), createGzip(), createWriteStream(tmp, { mode }))
  } catch (err) {
    await fs.unlink(tmp).catch(() => {})
    throw err
  }
  await fs.rename(tmp, path + '.gz')
  await fs.unlink(path)
  return path + '.gz'
}

export interface RetentionPolicy {
  maxFiles: number
  maxAgeDays: number
}

/** Rotated files to delete: beyond `maxFiles` newest, or older than `maxAgeDays` (0 = no limit). */
export function expired (files: readonly RotatedFile[], p: RetentionPolicy, now: number): RotatedFile[] {
  const out = new Set<RotatedFile>()
  if (p.maxFiles > 0 && files.length > p.maxFiles) for (const f of files.slice(0, files.length - p.maxFiles)) out.add(f)
  if (p.maxAgeDays > 0) {
    const limit = now - p.maxAgeDays * 86_400_000
    for (const f of files) if (f.stampMs < limit) out.add(f)
  }
  return files.filter((f) => out.has(f))
}
