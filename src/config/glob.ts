/**
 * Minimal file globbing for `include` and `tests` (Node 20 has no fs.glob): `*` and `?` within a
 * path segment, `**` for any number of directories. Results are sorted, so rule order is stable.
 */
import { readdir, stat } from 'node:fs/promises'
import { isAbsolute, join, resolve, sep } from 'node:path'

function hasGlob (s: string): boolean {
  return /[*?[]/.test(s)
}

function segmentRegex (seg: string): RegExp {
  let re = ''
  for (const c of seg) {
    if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

export interface GlobResult {
  files: string[]
  /** The directory before the first wildcard does not exist (most likely a typo). */
  baseMissing: boolean
}

/** Expands `pattern` relative to `baseDir`. A pattern without wildcards yields itself if it exists. */
export async function expandGlob (pattern: string, baseDir: string): Promise<GlobResult> {
  const abs = isAbsolute(pattern) ? pattern : resolve(baseDir, pattern)
  if (!hasGlob(abs)) {
    try {
      const st = await stat(abs)
      return { files: st.isFile() ? [abs] : [], baseMissing: false }
    } catch {
      return { files: [], baseMissing: true }
    }
  }
  const parts = abs.split(sep)
  let i = 0
  while (i < parts.length && !hasGlob(parts[i]!)) i++
  const base = parts.slice(0, i).join(sep) || sep
  try {
    if (!(await stat(base)).isDirectory()) return { files: [], baseMissing: true }
  } catch {
    return { files: [], baseMissing: true }
  }
  const out = new Set<string>()
  await walk(base, parts.slice(i), out)
  return { files: [...out].sort(), baseMissing: false }
}

async function walk (dir: string, rest: string[], out: Set<string>): Promise<void> {
  if (rest.length === 0) return
  const [seg, ...tail] = rest as [string, ...string[]]
  let entries: Array<{ name: string, dir: boolean, file: boolean }>
  try {
    entries = (await readdir(dir, { withFileTypes: true })).map((d) => ({ name: d.name, dir: d.isDirectory(), file: d.isFile() }))
  } catch {
    return
  }
  if (seg === '**') {
    await walk(dir, tail, out) // zero directories
    for (const e of entries) if (e.dir && !e.name.startsWith('.')) await walk(join(dir, e.name), rest, out)
    return
  }
  if (!hasGlob(seg)) {
    const e = entries.find((x) => x.name === seg)
    if (e === undefined) return
    if (tail.length === 0) { if (e.file) out.add(join(dir, seg)) } else if (e.dir) await walk(join(dir, seg), tail, out)
    return
  }
  const re = segmentRegex(seg)
  for (const e of entries) {
    if (e.name.startsWith('.') && !seg.startsWith('.')) continue
    if (!re.test(e.name)) continue
    if (tail.length === 0) { if (e.file) out.add(join(dir, e.name)) } else if (e.dir) await walk(join(dir, e.name), tail, out)
  }
}
