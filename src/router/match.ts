/**
 * Compiles a rule's `match` into one predicate, once. Per record there is no config walking and
 * no regex compilation: globs, regexes, level masks and CIDRs are all prepared here.
 * Problems (bad regex, unknown level name, invalid CIDR) are reported through `issue` with the
 * JSON pointer inside the rule, so config errors can point at the line.
 */
import type { NetconsRecord } from '../types.js'
import type { CountSpec, LevelSpec, PatternSpec, PresenceSpec, RuleMatch, StringOps, TypedSpec, HostSpec } from '../config/types.js'
import { addressWords, cidrContains, parseCidr } from '../config/address.js'
import type { Cidr } from '../config/address.js'
import { escapePointer } from '../config/locate.js'

export type Pred = (r: NetconsRecord) => boolean
export type StrPred = (s: string) => boolean
export type IssueFn = (pointer: string, message: string) => void

const TRUE: Pred = () => true

/** RFC 5424 §6.2.1 severities; `panic`, `error`, `warn` are the traditional aliases. */
export const LEVELS: Record<string, number> = {
  emerg: 0, panic: 0, alert: 1, crit: 2, err: 3, error: 3, warning: 4, warn: 4, notice: 5, info: 6, debug: 7
}

/** RFC 5424 §6.2.1 facilities (names as in syslog.h). */
export const FACILITIES: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  ntp: 12, security: 13, console: 14, solaris_cron: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23
}

function escapeRe (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

export function globToRegExp (glob: string, ignoreCase: boolean): RegExp {
  let re = ''
  for (const c of glob) re += c === '*' ? '.*' : c === '?' ? '.' : escapeRe(c)
  return new RegExp(`^${re}$`, ignoreCase ? 'is' : 's')
}

function anyOf<T> (preds: Array<(x: T) => boolean>): (x: T) => boolean {
  if (preds.length === 1) return preds[0]!
  return (x) => { for (let i = 0; i < preds.length; i++) if (preds[i]!(x)) return true; return false }
}

function allOf<T> (preds: Array<(x: T) => boolean>): (x: T) => boolean {
  if (preds.length === 0) return () => true
  if (preds.length === 1) return preds[0]!
  if (preds.length === 2) { const [a, b] = preds as [(x: T) => boolean, (x: T) => boolean]; return (x) => a(x) && b(x) }
  return (x) => { for (let i = 0; i < preds.length; i++) if (!preds[i]!(x)) return false; return true }
}

const list = (v: string | string[]): string[] => Array.isArray(v) ? v : [v]

function compileOps (ops: StringOps, ptr: string, issue: IssueFn, defaultIgnoreCase: boolean): StrPred {
  const ic = ops.ignoreCase ?? defaultIgnoreCase
  const preds: StrPred[] = []
  const viaRegex = (vals: string[], wrap: (e: string) => string): StrPred => {
    const re = new RegExp(vals.map((v) => wrap(escapeRe(v))).join('|'), ic ? 'is' : 's')
    return (s) => re.test(s)
  }
  if (ops.equals !== undefined) {
    const v = list(ops.equals)
    if (ic) preds.push(viaRegex(v, (e) => `^${e}$`))
    else if (v.length === 1) { const x = v[0]!; preds.push((s) => s === x) } else { const set = new Set(v); preds.push((s) => set.has(s)) }
  }
  if (ops.contains !== undefined) {
    const v = list(ops.contains)
    if (ic || v.length > 4) preds.push(viaRegex(v, (e) => e))
    else preds.push(anyOf(v.map((x) => (s: string) => s.includes(x))))
  }
  if (ops.startsWith !== undefined) {
    const v = list(ops.startsWith)
    preds.push(ic ? viaRegex(v, (e) => `^${e}`) : anyOf(v.map((x) => (s: string) => s.startsWith(x))))
  }
  if (ops.endsWith !== undefined) {
    const v = list(ops.endsWith)
    preds.push(ic ? viaRegex(v, (e) => `${e}$`) : anyOf(v.map((x) => (s: string) => s.endsWith(x))))
  }
  if (ops.glob !== undefined) {
    const res = list(ops.glob).map((g) => globToRegExp(g, ic))
    preds.push(anyOf(res.map((re) => (s: string) => re.test(s))))
  }
  if (ops.regex !== undefined) {
    const flags = (ops.flags ?? '') + (ic && !(ops.flags ?? '').includes('i') ? 'i' : '')
    const res: RegExp[] = []
    list(ops.regex).forEach((src, i) => {
      try {
        res.push(new RegExp(src, flags))
      } catch (err) {
        issue(`${ptr}/regex${Array.isArray(ops.regex) ? `/${i}` : ''}`, `invalid regular expression ${JSON.stringify(src)}: ${(err as Error).message}`)
      }
    })
    if (res.length > 0) preds.push(anyOf(res.map((re) => (s: string) => re.test(s))))
  }
  if (!['equals', 'contains', 'startsWith', 'endsWith', 'glob', 'regex'].some((k) => (ops as Record<string, unknown>)[k] !== undefined)) {
    issue(ptr, 'a string matcher needs at least one of equals, contains, startsWith, endsWith, glob, regex')
  }
  return allOf(preds)
}

/** `defaultOp`: what a bare string means (`glob` for names and values, `contains` for text). */
function compilePattern (spec: PatternSpec, ptr: string, issue: IssueFn, defaultOp: 'glob' | 'contains', defaultIgnoreCase = false): StrPred {
  const one = (item: string | StringOps, p: string): StrPred => {
    if (typeof item === 'string') {
      if (defaultOp === 'contains') return defaultIgnoreCase ? compileOps({ contains: item }, p, issue, true) : (s) => s.includes(item)
      if (!/[*?]/.test(item)) {
        if (!defaultIgnoreCase) return (s) => s === item
        const lower = item.toLowerCase()
        return (s) => s.length === lower.length && s.toLowerCase() === lower
      }
      const re = globToRegExp(item, defaultIgnoreCase)
      return (s) => re.test(s)
    }
    return compileOps(item, p, issue, defaultIgnoreCase)
  }
  if (Array.isArray(spec)) return anyOf(spec.map((x, i) => one(x, `${ptr}/${i}`)))
  return one(spec, ptr)
}

/** Levels and facilities: names, numbers, comparisons (`<=warning`) and ranges (`crit..warning`). */
export function compileNumSet (spec: LevelSpec, ptr: string, issue: IssueFn, names: Record<string, number>, max: number, what: string): (n: number) => boolean {
  const items = Array.isArray(spec) ? spec : [spec]
  const set = new Set<number>()
  const ranges: Array<[number, number]> = []
  const num = (s: string, p: string): number | null => {
    const t = s.trim().toLowerCase()
    if (/^\d+$/.test(t)) return Number(t)
    const n = names[t]
    if (n === undefined) {
      issue(p, `unknown ${what} ${JSON.stringify(s)}; expected a number or one of: ${Object.keys(names).join(', ')}`)
      return null
    }
    return n
  }
  items.forEach((it, i) => {
    const p = Array.isArray(spec) ? `${ptr}/${i}` : ptr
    if (typeof it === 'number') { set.add(it); return }
    const cmp = /^\s*(<=|>=|<|>|=)\s*(.+)$/.exec(it)
    if (cmp !== null) {
      const n = num(cmp[2]!, p)
      if (n === null) return
      const op = cmp[1]!
      ranges.push(op === '<=' ? [0, n] : op === '<' ? [0, n - 1] : op === '>=' ? [n, max] : op === '>' ? [n + 1, max] : [n, n])
      return
    }
    const rng = /^(.+?)\.\.(.+)$/.exec(it)
    if (rng !== null) {
      const a = num(rng[1]!, p); const b = num(rng[2]!, p)
      if (a !== null && b !== null) ranges.push([Math.min(a, b), Math.max(a, b)])
      return
    }
    const n = num(it, p)
    if (n !== null) set.add(n)
  })
  // Small domains (levels, the named facilities) become a bit mask: one shift and one AND per record.
  if ([...set].every((n) => n < 31) && ranges.every(([, b]) => b < 31)) {
    let mask = 0
    for (const n of set) mask |= 1 << n
    for (const [a, b] of ranges) for (let n = a; n <= b; n++) mask |= 1 << n
    return (n) => n < 31 && ((mask >>> n) & 1) === 1
  }
  return (n) => set.has(n) || ranges.some(([a, b]) => n >= a && n <= b)
}

function compileCount (spec: CountSpec): (n: number) => boolean {
  if (typeof spec === 'number') return (n) => n === spec
  const m = /^\s*(<=|>=|<|>|=)?\s*(\d+)\s*$/.exec(spec)!
  const v = Number(m[2])
  switch (m[1]) {
    case '<=': return (n) => n <= v
    case '<': return (n) => n < v
    case '>=': return (n) => n >= v
    case '>': return (n) => n > v
    default: return (n) => n === v
  }
}

/** Parsed sender addresses, shared by every host matcher of one router (bounded). */
export class AddressCache {
  #map = new Map<string, Uint32Array | null>()
  get (s: string): Uint32Array | null {
    let w = this.#map.get(s)
    if (w === undefined) {
      if (this.#map.size >= 4096) this.#map.clear()
      w = addressWords(s)
      this.#map.set(s, w)
    }
    return w
  }
}

function compileHost (spec: HostSpec, ptr: string, issue: IssueFn, addrs: AddressCache): Pred {
  const cidrPred = (c: Cidr): Pred => (r) => { const w = addrs.get(r.host.address); return w !== null && cidrContains(c, w) }
  if (typeof spec === 'string' || Array.isArray(spec)) {
    const items = list(spec)
    return anyOf(items.map((s): Pred => {
      const c = /^[0-9a-fA-F:.]+(\/\d+)?$/.test(s) ? parseCidr(s) : null
      if (c !== null) return cidrPred(c)
      // Host names are case-insensitive (RFC 4343).
      const p = compilePattern(s, ptr, issue, 'glob', true)
      return (r) => p(r.host.name)
    }))
  }
  const preds: Pred[] = []
  if (spec.name !== undefined) { const p = compilePattern(spec.name, `${ptr}/name`, issue, 'glob', true); preds.push((r) => p(r.host.name)) }
  if (spec.address !== undefined) {
    const cs: Cidr[] = []
    list(spec.address).forEach((a, i) => {
      const c = parseCidr(a)
      if (c === null) issue(Array.isArray(spec.address) ? `${ptr}/address/${i}` : `${ptr}/address`, `expected an address or CIDR (10.0.0.0/8, 2001:db8::/32), found ${JSON.stringify(a)}`)
      else cs.push(c)
    })
    if (cs.length > 0) preds.push(anyOf(cs.map(cidrPred)))
  }
  if (spec.labels !== undefined) {
    for (const [k, v] of Object.entries(spec.labels)) {
      const p = compilePattern(v, `${ptr}/labels/${escapePointer(k)}`, issue, 'glob')
      preds.push((r) => { const l = r.host.labels[k]; return l !== undefined && p(l) })
    }
  }
  return allOf(preds)
}

function compilePresenceMap (spec: Record<string, PresenceSpec>, ptr: string, issue: IssueFn, get: (r: NetconsRecord, key: string, p: StrPred | null) => boolean): Pred {
  const preds: Pred[] = []
  for (const [k, v] of Object.entries(spec)) {
    if (v === true) preds.push((r) => get(r, k, null))
    else if (v === false) preds.push((r) => !get(r, k, null))
    else { const p = compilePattern(v, `${ptr}/${escapePointer(k)}`, issue, 'glob'); preds.push((r) => get(r, k, p)) }
  }
  return allOf(preds)
}

function dictHas (r: NetconsRecord, key: string, p: StrPred | null): boolean {
  const d = r.dict
  for (let i = 0; i < d.length; i++) {
    const kv = d[i]!
    if (kv[0] === key && (p === null || p(kv[1]))) return true
  }
  return false
}

function isScalar (v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
}

function compileTyped (spec: TypedSpec, ptr: string, issue: IssueFn, get: (r: NetconsRecord) => Record<string, unknown> | undefined): Pred {
  if (spec === true) return (r) => get(r) !== undefined
  if (spec === false) return (r) => get(r) === undefined
  if (typeof spec === 'string' || Array.isArray(spec)) {
    const p = compilePattern(spec, ptr, issue, 'glob')
    return (r) => { const o = get(r); return o !== undefined && typeof o.type === 'string' && p(o.type) }
  }
  const preds: Pred[] = []
  for (const [k, v] of Object.entries(spec)) {
    const p = compilePattern(v, `${ptr}/${escapePointer(k)}`, issue, 'glob')
    preds.push((r) => {
      const o = get(r)
      if (o === undefined) return false
      const x = o[k]
      // Only a field's scalar values are matched: an object would be "[object Object]" to a glob
      // and match `*`.
      if (Array.isArray(x)) return x.some((e) => isScalar(e) && p(String(e)))
      return isScalar(x) && p(String(x))
    })
  }
  return allOf(preds)
}

export function compileMatch (m: RuleMatch | undefined, ptr: string, issue: IssueFn, addrs: AddressCache): Pred {
  if (m === undefined) return TRUE
  const preds: Pred[] = []
  if (m.kind !== undefined) {
    const kinds = new Set(Array.isArray(m.kind) ? m.kind : [m.kind])
    preds.push((r) => kinds.has(r.kind))
  }
  if (m.format !== undefined) { const f = m.format; preds.push((r) => r.format === f) }
  for (const flag of ['oos', 'seqReset', 'incomplete', 'cont', 'contStart'] as const) {
    const v = m[flag]
    if (v !== undefined) preds.push((r) => r[flag] === v)
  }
  if (m.lostBefore !== undefined) { const c = compileCount(m.lostBefore); preds.push((r) => c(r.lostBefore)) }
  if (m.level !== undefined) {
    const p = compileNumSet(m.level, `${ptr}/level`, issue, LEVELS, 7, 'level')
    preds.push((r) => r.level !== null && p(r.level))
  }
  if (m.facility !== undefined) {
    const p = compileNumSet(m.facility, `${ptr}/facility`, issue, FACILITIES, Number.MAX_SAFE_INTEGER, 'facility')
    preds.push((r) => p(r.facility))
  }
  if (m.host !== undefined) preds.push(compileHost(m.host, `${ptr}/host`, issue, addrs))
  if (m.release !== undefined) { const p = compilePattern(m.release, `${ptr}/release`, issue, 'glob'); preds.push((r) => r.release !== null && p(r.release)) }
  if (m.dict !== undefined) preds.push(compilePresenceMap(m.dict, `${ptr}/dict`, issue, dictHas))
  if (m.attributes !== undefined) {
    preds.push(compilePresenceMap(m.attributes, `${ptr}/attributes`, issue, (r, k, p) => {
      const v = r.attributes[k]
      return v !== undefined && (p === null || p(v))
    }))
  }
  if (m.incident !== undefined) preds.push(compileTyped(m.incident, `${ptr}/incident`, issue, (r) => r.incident))
  if (m.event !== undefined) preds.push(compileTyped(m.event, `${ptr}/event`, issue, (r) => r.event))
  // Text last: it is the most expensive test, and AND short-circuits.
  if (m.text !== undefined) { const p = compilePattern(m.text, `${ptr}/text`, issue, 'contains'); preds.push((r) => p(r.text)) }
  if (m.all !== undefined) preds.push(allOf(m.all.map((x, i) => compileMatch(x, `${ptr}/all/${i}`, issue, addrs))))
  if (m.any !== undefined) preds.push(anyOf(m.any.map((x, i) => compileMatch(x, `${ptr}/any/${i}`, issue, addrs))))
  if (m.not !== undefined) { const p = compileMatch(m.not, `${ptr}/not`, issue, addrs); preds.push((r) => !p(r)) }
  return allOf(preds)
}
