/**
 * The router: rules compiled once into predicates, evaluated in a documented order.
 *
 *   for each rule, in order (included packs first, then the config's `rules`):
 *     match?  no → next rule
 *             yes → count it; apply `set`; `drop` → discard the record (return []), stop;
 *                   add `to` sinks (deduplicated, first appearance wins the order);
 *                   `final` → stop
 *   no `to`/`drop` rule matched → the reserved `_unmatched` destination (`unmatched.to`), counted
 *   sinks made from `modules` (netconsd-style output modules) get every record not dropped
 *
 * Per record: no config walking, no regex compilation; the result is a shared frozen array when
 * one rule decides (the common case), else one new array.
 */
import type { NetconsRecord } from '../types.js'
import type { Config, RuleConfig } from '../config/types.js'
import { NetconsdError } from '../errors.js'
import { AddressCache, compileMatch } from './match.js'
import type { Pred } from './match.js'

export const UNMATCHED = '_unmatched'

export interface Router {
  /** Sink ids to deliver `rec` to (deduplicated, deterministic order; do not mutate). Applies `set` to `rec.attributes`. `[]` when dropped. */
  route (rec: NetconsRecord): readonly string[]
  readonly ruleIds: string[]
  /** Records matched per rule id since compile. */
  matchCounts (): Record<string, number>
  /** Records that matched no `to`/`drop` rule. */
  unmatchedCount (): number
  /** Records discarded by `drop` rules. */
  droppedCount (): number
  /** Like `route`, also saying which rules matched (for replay and route tests; slower). */
  trace (rec: NetconsRecord): RouteTrace
}

export interface RouteTrace {
  sinks: readonly string[]
  /** Ids of the rules that matched, in evaluation order. */
  rules: string[]
  dropped: boolean
  unmatched: boolean
}

interface CompiledRule {
  id: string
  pred: Pred
  /** Sink indices. */
  to: Int32Array
  /** `to` + module taps, frozen, returned as is when this rule alone decides. */
  result: readonly string[]
  set: Array<[string, string]>
  drop: boolean
  final: boolean
}

/** A problem found while compiling: rule index, pointer inside the rule, message. */
export type RuleIssueFn = (ruleIndex: number, pointer: string, message: string) => void

/** Sink id given to the i-th entry of `modules` (file name without extension, made unique). */
export function moduleSinkIds (modules: readonly string[], taken: Iterable<string> = []): string[] {
  const used = new Set(taken)
  return modules.map((p) => {
    const base = (p.split(/[\\/]/).pop() ?? 'module').replace(/\.[cm]?js$/, '').replace(/[^A-Za-z0-9_.:-]/g, '_') || 'module'
    let id = `module:${base}`
    for (let n = 2; used.has(id); n++) id = `module:${base}-${n}`
    used.add(id)
    return id
  })
}

export interface RouterSpec {
  rules: readonly RuleConfig[]
  /** Every declared sink id, in declaration order. */
  sinkIds: readonly string[]
  unmatchedTo: readonly string[]
  /** Sinks that receive every record not dropped (from `modules`). */
  taps: readonly string[]
}

/** Compiles rules; problems go to `onIssue` (compile continues) — used by config validation. */
export function buildRouter (spec: RouterSpec, onIssue: RuleIssueFn): Router {
  const sinkIndex = new Map<string, number>()
  spec.sinkIds.forEach((id, i) => sinkIndex.set(id, i))
  const ids = spec.sinkIds
  const taps = spec.taps.filter((t) => sinkIndex.has(t))
  const tapIdx = Int32Array.from(taps.map((t) => sinkIndex.get(t)!))
  const withTaps = (base: readonly string[]): readonly string[] => Object.freeze([...base, ...taps.filter((t) => !base.includes(t))])
  const addrs = new AddressCache()
  const rules: CompiledRule[] = spec.rules.map((r, i) => {
    const to: number[] = []
    const toIds: string[] = []
    for (const id of r.to ?? []) {
      const n = sinkIndex.get(id)
      if (n === undefined) continue // reported by the config's cross-reference check
      if (!to.includes(n)) { to.push(n); toIds.push(id) }
    }
    return {
      id: r.id,
      pred: compileMatch(r.match, '/match', (p, m) => onIssue(i, p, m), addrs),
      to: Int32Array.from(to),
      result: withTaps(toIds),
      set: Object.entries(r.set ?? {}),
      drop: r.drop === true,
      final: r.final === true
    }
  })
  const routing = rules.map((r) => r.to.length > 0)
  const unmatchedResult = withTaps(spec.unmatchedTo.filter((id) => sinkIndex.has(id)))
  const EMPTY: readonly string[] = Object.freeze([])
  const counts = new Float64Array(rules.length)
  // Generation stamps per sink index: dedupe without allocating a Set per record.
  const stamp = new Uint32Array(Math.max(1, ids.length))
  let gen = 0
  let unmatched = 0
  let dropped = 0

  function run (rec: NetconsRecord, matched: string[] | null): readonly string[] {
    let single: CompiledRule | null = null
    let out: string[] | null = null
    if (++gen === 0xffffffff) { stamp.fill(0); gen = 1 }
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!
      if (!r.pred(rec)) continue
      counts[i]!++
      if (matched !== null) matched.push(r.id)
      if (r.set.length > 0) {
        // ncrx's records share one frozen empty object until a rule sets something.
        if (Object.isFrozen(rec.attributes)) rec.attributes = { ...rec.attributes }
        for (const [k, v] of r.set) rec.attributes[k] = v
      }
      if (r.drop) { dropped++; return EMPTY }
      if (routing[i] === true) {
        if (single === null && out === null) {
          single = r
          for (let j = 0; j < r.to.length; j++) stamp[r.to[j]!] = gen
        } else {
          for (let j = 0; j < r.to.length; j++) {
            const n = r.to[j]!
            if (stamp[n] === gen) continue
            stamp[n] = gen
            if (out === null) { out = []; for (let k = 0; k < single!.to.length; k++) out.push(ids[single!.to[k]!]!) }
            out.push(ids[n]!)
          }
        }
      }
      if (r.final) break
    }
    if (out !== null) {
      for (let j = 0; j < tapIdx.length; j++) if (stamp[tapIdx[j]!] !== gen) out.push(ids[tapIdx[j]!]!)
      return out
    }
    if (single !== null) return single.result
    unmatched++
    return unmatchedResult
  }

  return {
    route: (rec) => run(rec, null),
    ruleIds: rules.map((r) => r.id),
    matchCounts () {
      const o: Record<string, number> = {}
      rules.forEach((r, i) => { o[r.id] = counts[i]! })
      return o
    },
    unmatchedCount: () => unmatched,
    droppedCount: () => dropped,
    trace (rec) {
      const matched: string[] = []
      const u0 = unmatched; const d0 = dropped
      const sinks = run(rec, matched)
      return { sinks, rules: matched, dropped: dropped !== d0, unmatched: unmatched !== u0 }
    }
  }
}

/** The router for a loaded (already validated) config. Throws NETCONSD_ERR_CONFIG_INVALID if a rule does not compile. */
export function compileRouter (config: Config): Router {
  const errors: Array<{ file: string, path: string, message: string }> = []
  const sinkIds = Object.keys(config.sinks)
  const router = buildRouter({
    rules: config.rules,
    sinkIds,
    unmatchedTo: config.unmatched.to,
    taps: config.moduleSinks ?? []
  }, (i, p, m) => errors.push({ file: config.file, path: `rules[${i}]${p.replace(/\//g, '.')}`, message: m }))
  if (errors.length > 0) {
    throw new NetconsdError('NETCONSD_ERR_CONFIG_INVALID', `${errors.length} rule(s) do not compile.`, { errors })
  }
  return router
}
