/**
 * Route tests as data (after Vector's `vector test`): a `*.cases.json5` file lists inputs — a
 * partial record or raw netconsole payloads — and what must happen to them (`expect` sinks,
 * `noOutputsFrom`, matched `rules`, `attributes`, `dropped`). Schema: `schemas/route-cases.schema.json`.
 *
 * Which routing table a file runs against, in order:
 *   1. its `config` key (a config file, relative to the cases file);
 *   2. its `include` key (rule packs) with stand-in sinks;
 *   3. the config that runs it (`check-config` runs the files its config lists in `tests`);
 *   4. the rule pack beside it (`x.cases.json5` → `x.json5`) with stand-in sinks.
 * Stand-in sinks are ids only: nothing is sent anywhere.
 */
import { dirname, resolve, basename, join, relative } from 'node:path'
import { existsSync } from 'node:fs'
import type { Config } from './types.js'
import type { NetconsRecord } from '../types.js'
import { NetconsdError } from '../errors.js'
import { loadConfig, readJson5 } from './load.js'
import type { ConfigIssue } from './load.js'
import { validatorFor, validateWith } from './validate.js'
import { createHostResolver } from './hosts.js'
import { addressWords } from './address.js'
import { formatAddress } from '../ingest/batch.js'
import { HostTable } from '../ncrx/hosts.js'
import { compileRouter, UNMATCHED } from '../router/router.js'
import type { RouteTrace } from '../router/router.js'
import { FACILITIES, LEVELS } from '../router/match.js'
import { pino } from 'pino'

export interface CaseInput {
  text?: string
  level?: number | string | null
  facility?: number | string
  format?: 'extended' | 'legacy'
  kind?: 'log' | 'incident' | 'event'
  src?: string
  host?: { name?: string, address?: string, labels?: Record<string, string> }
  seq?: number | null
  dict?: Record<string, string> | Array<[string, string]>
  release?: string | null
  oos?: boolean
  seqReset?: boolean
  incomplete?: boolean
  cont?: boolean
  contStart?: boolean
  lostBefore?: number
  attributes?: Record<string, string>
  incident?: { type: string, [k: string]: unknown }
  event?: { type: string, [k: string]: unknown }
}

export interface RouteCase {
  name: string
  input?: CaseInput
  payload?: string | string[]
  src?: string
  expect?: string[]
  noOutputsFrom?: string[]
  rules?: string[]
  matched?: string[]
  notMatched?: string[]
  attributes?: Record<string, string>
  dropped?: boolean
  records?: number
}

export interface CasesFile {
  config?: string
  include?: string[]
  sinks?: string[]
  unmatched?: string[]
  hosts?: Record<string, { name?: string, labels?: Record<string, string> }>
  cases: RouteCase[]
}

export interface CaseRecordResult {
  record: NetconsRecord
  trace: RouteTrace
}

export interface CaseResult {
  file: string
  name: string
  line?: number
  ok: boolean
  /** Why it failed, one line each. */
  problems: string[]
  records: CaseRecordResult[]
}

export interface CasesRun {
  file: string
  /** The config the cases ran against (its `file` says which). */
  config: Config
  results: CaseResult[]
}

const silent = pino({ level: 'silent' })

/** Reads and validates a cases file. Throws NETCONSD_ERR_CONFIG_READ / _INVALID (with `errors`). */
async function readCasesFile (file: string): Promise<{ cases: CasesFile, lines: Array<number | undefined> }> {
  const parsed = await readJson5(file, 'route cases')
  const issues = validateWith(validatorFor('route-cases')!, parsed.value, { file, loc: parsed.loc, basePointer: '' })
  if (issues.length > 0) {
    throw new NetconsdError('NETCONSD_ERR_CONFIG_INVALID', `Route cases ${file} are invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}).`, { file, errors: issues })
  }
  const cases = parsed.value as CasesFile
  return { cases, lines: cases.cases.map((_, i) => parsed.loc.value.get(`/cases/${i}`)?.line) }
}

async function contextConfig (file: string, cf: CasesFile, fallback: Config | undefined, env: NodeJS.ProcessEnv): Promise<Config> {
  const dir = dirname(file)
  if (cf.config !== undefined) return await loadConfig({ file: resolve(dir, cf.config), env })
  let include = cf.include
  if (include === undefined) {
    if (fallback !== undefined) return fallback
    const sibling = join(dir, basename(file).replace(/\.cases\.json5$/, '.json5'))
    if (sibling === file || !existsSync(sibling)) {
      const issue: ConfigIssue = { file, path: '(top level)', message: `no routing table to test: add "config" (a config file) or "include" (rule packs), or put the rule pack beside this file as ${basename(sibling)}` }
      throw new NetconsdError('NETCONSD_ERR_CONFIG_INVALID', `Route cases ${file} name no config.`, { file, errors: [issue] })
    }
    include = [basename(sibling)]
  }
  let sinkIds = cf.sinks
  if (sinkIds === undefined) {
    // Stand-ins for every sink the packs (and `unmatched`) name.
    const ids = new Set<string>(cf.unmatched ?? [])
    const { expandGlob } = await import('./glob.js')
    for (const pattern of include) {
      for (const f of (await expandGlob(pattern, dir)).files) {
        try {
          const v = (await readJson5(f, 'rule pack')).value as { rules?: Array<{ to?: unknown }> }
          for (const r of v.rules ?? []) if (Array.isArray(r.to)) for (const id of r.to) if (typeof id === 'string') ids.add(id)
        } catch { /* reported by loadConfig below */ }
      }
    }
    sinkIds = [...ids]
  }
  const value: Record<string, unknown> = {
    version: 1,
    include,
    rules: [],
    sinks: Object.fromEntries(sinkIds.map((id) => [id, { type: 'stdout' }])),
    unmatched: { to: cf.unmatched ?? [] }
  }
  if (cf.hosts !== undefined) value.hosts = { inventory: cf.hosts }
  return await loadConfig({ source: { value, dir, name: `${file} (test context)` }, env })
}

const addrScratch = new Uint8Array(16)
function canonical (s: string): string {
  const w = addressWords(s)
  if (w === null) return s
  for (let i = 0; i < 4; i++) { addrScratch[4 * i] = w[i]! >>> 24; addrScratch[4 * i + 1] = (w[i]! >>> 16) & 0xff; addrScratch[4 * i + 2] = (w[i]! >>> 8) & 0xff; addrScratch[4 * i + 3] = w[i]! & 0xff }
  return formatAddress(addrScratch, 0)
}

function num (v: number | string | undefined | null, names: Record<string, number>, dflt: number): number {
  if (v === undefined || v === null) return dflt
  if (typeof v === 'number') return v
  return names[v.toLowerCase()] ?? (/^\d+$/.test(v) ? Number(v) : dflt)
}

/** A full record from a partial one (defaults: extended kern.info log record from 10.0.0.1). */
function recordFromInput (input: CaseInput, resolve: (address: string) => { name: string, address: string, labels: Readonly<Record<string, string>> }): NetconsRecord {
  const src = canonical(input.src ?? input.host?.address ?? '10.0.0.1')
  const resolved = resolve(src)
  const format = input.format ?? 'extended'
  const text = input.text ?? ''
  const rec: NetconsRecord = {
    kind: input.kind ?? (input.incident !== undefined ? 'incident' : input.event !== undefined ? 'event' : 'log'),
    format,
    src,
    srcPort: 6665,
    host: {
      name: input.host?.name ?? resolved.name,
      address: src,
      labels: { ...resolved.labels, ...(input.host?.labels ?? {}) }
    },
    thread: 0,
    seq: input.seq !== undefined ? input.seq : format === 'legacy' ? null : 0,
    facility: num(input.facility, FACILITIES, 0),
    level: input.level === null ? null : input.level === undefined ? (format === 'legacy' ? null : 6) : num(input.level, LEVELS, 6),
    tsUsec: null,
    text,
    raw: Buffer.from(text),
    dict: input.dict === undefined ? [] : Array.isArray(input.dict) ? input.dict.map(([k, v]) => [k, v]) : Object.entries(input.dict),
    release: input.release ?? null,
    contStart: input.contStart ?? false,
    cont: input.cont ?? false,
    oos: input.oos ?? false,
    seqReset: input.seqReset ?? false,
    incomplete: input.incomplete ?? false,
    lostBefore: input.lostBefore ?? 0,
    receivedAt: 0,
    attributes: { ...(input.attributes ?? {}) }
  }
  if (input.incident !== undefined) rec.incident = { title: '', signature: '', function: null, frames: [], ...input.incident }
  if (input.event !== undefined) rec.event = { ...input.event }
  return rec
}

/** Payload escapes in case files: JSON5 strings already turn `\n` into a newline. */
function recordsFromPayloads (config: Config, payloads: string[], src: string, resolveHost: (a: string) => NetconsRecord['host']): NetconsRecord[] {
  const out: NetconsRecord[] = []
  const table = new HostTable({ config: config.ncrx, thread: 0, resolveHost, emit: (r) => out.push(r) })
  const addr = canonical(src)
  payloads.forEach((p, i) => table.receive(addr, 6665, Buffer.from(p, 'utf8'), i, i))
  table.flushAll(payloads.length + config.ncrx.gapTimeoutMs + config.ncrx.oosTimeoutMs)
  return out
}

function sameSet (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x))
}

/** Runs one cases file. `config`: the routing table to use when the file names none (check-config). */
export async function runCasesFile (file: string, opts: { config?: Config, env?: NodeJS.ProcessEnv } = {}): Promise<CasesRun> {
  const abs = resolve(file)
  const { cases: cf, lines } = await readCasesFile(abs)
  const config = await contextConfig(abs, cf, opts.config, opts.env ?? process.env)
  const router = compileRouter(config)
  const resolver = createHostResolver({ ...config.hosts, reverseDns: { ...config.hosts.reverseDns, enabled: false } }, silent)
  const results: CaseResult[] = []
  try {
    cf.cases.forEach((c, i) => {
      const problems: string[] = []
      let recs: NetconsRecord[]
      if (c.input !== undefined && c.payload !== undefined) problems.push('give either "input" or "payload", not both')
      if (c.payload !== undefined) recs = recordsFromPayloads(config, Array.isArray(c.payload) ? c.payload : [c.payload], c.src ?? '10.0.0.1', (a) => resolver.resolve(a))
      else if (c.input !== undefined) recs = [recordFromInput(c.input, (a) => resolver.resolve(a))]
      else { problems.push('the case has no "input" and no "payload"'); recs = [] }
      const asserts = ['expect', 'noOutputsFrom', 'rules', 'matched', 'notMatched', 'attributes', 'dropped', 'records'].filter((k) => (c as unknown as Record<string, unknown>)[k] !== undefined)
      if (asserts.length === 0) problems.push('the case asserts nothing: add "expect", "noOutputsFrom", "rules", "matched", "notMatched", "attributes" or "dropped"')
      if (c.records !== undefined && recs.length !== c.records) problems.push(`records: expected ${c.records}, got ${recs.length}`)
      if (c.payload !== undefined && recs.length === 0 && c.records === undefined) problems.push('the payload produced no record (malformed? see ncrx counters); add "records: 0" if that is the point')
      const records: CaseRecordResult[] = []
      for (const rec of recs) {
        const trace = router.trace(rec)
        records.push({ record: rec, trace })
        const got = trace.unmatched ? [...trace.sinks, UNMATCHED] : [...trace.sinks]
        const tag = recs.length > 1 ? `record ${records.length}: ` : ''
        if (c.expect !== undefined && !sameSet(got, c.expect)) {
          const missing = c.expect.filter((x) => !got.includes(x))
          const extra = got.filter((x) => !c.expect!.includes(x))
          problems.push(`${tag}sinks: expected [${c.expect.join(', ')}], got [${got.join(', ')}]` +
            missing.map((x) => `\n      - ${x}  expected, not delivered`).join('') + extra.map((x) => `\n      + ${x}  delivered, not expected`).join(''))
        }
        for (const x of c.noOutputsFrom ?? []) if (got.includes(x)) problems.push(`${tag}sink ${x} received the record (noOutputsFrom)`)
        if (c.rules !== undefined && (c.rules.length !== trace.rules.length || c.rules.some((r, j) => trace.rules[j] !== r))) {
          problems.push(`${tag}rules: expected [${c.rules.join(', ')}], matched [${trace.rules.join(', ')}]`)
        }
        for (const id of c.matched ?? []) if (!trace.rules.includes(id)) problems.push(`${tag}rule ${id} did not match (matched: ${trace.rules.join(', ') || 'none'})`)
        for (const id of c.notMatched ?? []) if (trace.rules.includes(id)) problems.push(`${tag}rule ${id} matched (notMatched)`)
        if (c.dropped !== undefined && c.dropped !== trace.dropped) problems.push(`${tag}dropped: expected ${String(c.dropped)}, got ${String(trace.dropped)}`)
        for (const [k, v] of Object.entries(c.attributes ?? {})) {
          if (rec.attributes[k] !== v) problems.push(`${tag}attributes.${k}: expected ${JSON.stringify(v)}, got ${rec.attributes[k] === undefined ? 'nothing' : JSON.stringify(rec.attributes[k])}`)
        }
      }
      const r: CaseResult = { file: abs, name: c.name, ok: problems.length === 0, problems, records }
      const line = lines[i]
      if (line !== undefined) r.line = line
      results.push(r)
    })
  } finally {
    resolver.close()
  }
  return { file: abs, config, results }
}

const LEVEL_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug']
const FACILITY_NAMES = Object.entries(FACILITIES).reduce<string[]>((a, [k, v]) => { a[v] ??= k; return a }, [])

/** One line describing a record: `kern.err #12 web-01 (::ffff:10.0.0.1) "text..."`. */
export function describeRecord (rec: NetconsRecord, width = 60): string {
  const fac = FACILITY_NAMES[rec.facility] ?? String(rec.facility)
  const lvl = rec.level === null ? 'legacy' : `${fac}.${LEVEL_NAMES[rec.level] ?? rec.level}`
  const text = rec.text.replace(/\s+/g, ' ').trim()
  const t = text.length > width ? text.slice(0, width - 1) + '…' : text
  const host = rec.host.name === rec.host.address ? rec.host.address : `${rec.host.name} (${rec.host.address})`
  const what = rec.kind === 'incident' ? `incident:${rec.incident?.type ?? '?'}` : rec.kind === 'event' ? `event:${rec.event?.type ?? '?'}` : lvl
  return `${what}${rec.seq !== null ? ` #${rec.seq}` : ''} ${host} ${JSON.stringify(t)}`
}

/** Human output for a run: one line per case, details for failures. */
export function formatCasesRun (run: CasesRun, cwd = process.cwd()): string {
  const rel = relative(cwd, run.file) || run.file
  const lines: string[] = []
  for (const r of run.results) {
    const where = `${rel}${r.line !== undefined ? `:${r.line}` : ''}`
    if (r.ok) { lines.push(`  ok    ${where} ${r.name}`); continue }
    lines.push(`  FAIL  ${where} ${r.name}`)
    for (const rr of r.records) {
      lines.push(`        record: ${describeRecord(rr.record)}`)
      lines.push(`        matched rules: ${rr.trace.rules.length === 0 ? '(none)' : rr.trace.rules.join(', ')}${rr.trace.dropped ? ' (dropped)' : ''}${rr.trace.unmatched ? ` (${UNMATCHED})` : ''}`)
    }
    for (const p of r.problems) lines.push(`        ${p}`)
  }
  return lines.join('\n')
}
