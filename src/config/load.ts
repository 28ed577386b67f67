/**
 * Loading the configuration:
 *
 *   read ─► JSON5 parse (line:col) ─► ${ENV} substitution ─► version check ─► CLI overrides
 *        ─► schema validation + defaults (ajv, every error at once) ─► sink options per type
 *        ─► include rule packs ─► cross-references (sink ids, rule ids, regexes, CIDRs,
 *           module paths, globs) ─► absolute paths ─► deep-freeze
 *
 * Every problem becomes a `ConfigIssue` naming file, line:col, path, what was expected and what
 * was found; they are thrown together as one NetconsdError (`errors` field).
 */
import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, resolve, isAbsolute } from 'node:path'
import JSON5 from 'json5'
import { NetconsdError } from '../errors.js'
import type { Config, DeepPartial, RuleConfig } from './types.js'
import { locate, escapePointer, pointerToPath } from './locate.js'
import type { Locations } from './locate.js'
import { substituteEnv } from './env.js'
import { validatorFor, validateWith, issueAt, suggest, describe } from './validate.js'
import type { ConfigIssue, IssueContext } from './validate.js'
import { expandGlob } from './glob.js'
import { parseCidr } from './address.js'
import { buildRouter, moduleSinkIds } from '../router/router.js'
import { sinkTypes } from '../sinks/registry.js'

export type { ConfigIssue } from './validate.js'

export const CONFIG_VERSION = 1
const BUILT_IN = '<built-in>'

export interface LoadOptions {
  /** Config file (JSON5). Absent: the built-in default (port 1514, everything to stdout). */
  file?: string
  /** For `${NAME}` substitution; default `process.env`. */
  env?: NodeJS.ProcessEnv
  /** CLI flags; merged over the file before validation. `modules` are appended (relative to the cwd). */
  overrides?: DeepPartial<Config>
  /** An in-memory config instead of a file (route tests of rule packs); `name` appears in errors. */
  source?: { value: Record<string, unknown>, dir: string, name: string }
  /**
   * The text of `file` as already read (SIGHUP reads it when the signal arrives, so each signal
   * evaluates the file as it was then). Included rule packs are still read at load time.
   */
  fileText?: string
}

/** Sink types a config may use: the sink registry's, plus the built-in `stdout` and `module`. */
function knownSinkTypes (): string[] {
  return [...new Set(['stdout', 'module', ...Object.keys(sinkTypes)])].sort()
}

/** The config used when no file is given. */
function builtInConfigSource (): Record<string, unknown> {
  return {
    version: CONFIG_VERSION,
    sinks: { stdout: { type: 'stdout' } },
    rules: [{ id: 'all', description: 'Everything to stdout (built-in default).', to: ['stdout'] }]
  }
}

interface Origin { file: string, line?: number, column?: number }
const ruleOrigins = new WeakMap<object, Origin>()
const loadOptions = new WeakMap<object, LoadOptions>()

/** Where a rule was written (file, line, column), for replay and test output. */
export function ruleOrigin (rule: RuleConfig): Origin | undefined {
  return ruleOrigins.get(rule)
}

interface ParsedFile { file: string, text: string, value: unknown, loc: Locations }

/** Reads and parses one JSON5 file. Throws NETCONSD_ERR_CONFIG_READ naming the file (and line:col for syntax errors). */
export async function readJson5 (file: string, what = 'config', preRead?: string): Promise<ParsedFile> {
  let text: string
  try {
    text = preRead ?? await readFile(file, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const message = e.code === 'ENOENT' ? `${what} file does not exist` : e.code === 'EACCES' ? `${what} file is not readable (permission denied)` : `cannot read ${what} file: ${e.message}`
    throw new NetconsdError('NETCONSD_ERR_CONFIG_READ', `Cannot read ${file}: ${message}.`, { file, errors: [{ file, path: '(file)', message }] }, { cause: err })
  }
  try {
    return { file, text, value: JSON5.parse(text), loc: locate(text) }
  } catch (err) {
    const e = err as SyntaxError & { lineNumber?: number, columnNumber?: number }
    const issue: ConfigIssue = { file, path: '(syntax)', message: `not valid JSON5: ${e.message.replace(/^JSON5: /, '').replace(/ at \d+:\d+$/, '')}` }
    if (e.lineNumber !== undefined) issue.line = e.lineNumber
    if (e.columnNumber !== undefined) issue.column = e.columnNumber
    throw new NetconsdError('NETCONSD_ERR_CONFIG_READ', `${file}${issue.line !== undefined ? `:${issue.line}:${issue.column ?? 0}` : ''}: ${issue.message}.`, { file, errors: [issue] }, { cause: err })
  }
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function deepMerge (base: Record<string, unknown>, over: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue
    if (k === 'modules' && Array.isArray(v)) {
      // CLI module paths are relative to the working directory, and add to the file's list.
      const prev = Array.isArray(base.modules) ? base.modules as unknown[] : []
      base.modules = [...prev, ...(v as unknown[]).map((p) => typeof p === 'string' && !isAbsolute(p) ? resolve(p) : p)]
    } else if (isObject(v) && isObject(base[k])) deepMerge(base[k], v)
    else base[k] = structuredClone(v)
  }
}

function deepFreeze<T> (v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreeze(x)
  }
  return v
}

function invalid (file: string, errors: ConfigIssue[]): NetconsdError {
  const sorted = [...errors].sort((a, b) => (a.file === b.file ? 0 : a.file === file ? -1 : b.file === file ? 1 : a.file < b.file ? -1 : 1) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
  return new NetconsdError('NETCONSD_ERR_CONFIG_INVALID',
    `Configuration ${file} is invalid (${errors.length} problem${errors.length === 1 ? '' : 's'}).`, { file, errors: sorted })
}

/** Loads, validates and freezes a config. Throws NETCONSD_ERR_CONFIG_READ / _VERSION / _INVALID with `errors`. */
export async function loadConfig (opts: LoadOptions = {}): Promise<Config> {
  const env = opts.env ?? process.env
  let file: string
  let dir: string
  let raw: unknown
  let loc: Locations | null = null
  if (opts.source !== undefined) {
    file = opts.source.name
    dir = opts.source.dir
    raw = structuredClone(opts.source.value)
  } else if (opts.file === undefined) {
    file = BUILT_IN
    dir = process.cwd()
    raw = builtInConfigSource()
  } else {
    file = resolve(opts.file)
    dir = dirname(file)
    const parsed = await readJson5(file, 'config', opts.fileText)
    raw = parsed.value
    loc = parsed.loc
  }
  const ctx: IssueContext = { file, loc, basePointer: '' }
  if (!isObject(raw)) {
    throw invalid(file, [issueAt(ctx, '', `expected an object ({ version: ${CONFIG_VERSION}, ... }), found ${describe(raw)}`)])
  }
  const issues: ConfigIssue[] = []
  const envIssues: Array<{ pointer: string, message: string }> = []
  substituteEnv(raw, env, envIssues)
  for (const e of envIssues) issues.push(issueAt(ctx, e.pointer, e.message))

  // A config for another major version is refused before anything else: its other errors would mislead.
  const v = raw.version
  if (v !== undefined && v !== CONFIG_VERSION) {
    const major = typeof v === 'number' ? Math.trunc(v) : typeof v === 'string' ? Number.parseInt(v, 10) : NaN
    if (Number.isFinite(major) && major !== CONFIG_VERSION) {
      const issue = issueAt(ctx, '/version', `this netconsd reads config version ${CONFIG_VERSION}, found version ${String(v)}; convert the file (see docs/config.md) or run the netconsd release that wrote it`)
      throw new NetconsdError('NETCONSD_ERR_CONFIG_VERSION', `${file}: config version ${String(v)} is not supported (expected ${CONFIG_VERSION}).`, { file, found: v, expected: CONFIG_VERSION, errors: [issue] })
    }
  }
  if (opts.overrides !== undefined) deepMerge(raw, opts.overrides)
  const ownRulesGiven = raw.rules !== undefined

  // Schema: structure, types, unknown keys, defaults.
  const schemaIssues = validateWith(validatorFor('config')!, raw, ctx)
  issues.push(...schemaIssues)
  const structural = issues.length > 0

  // Sink options, by type.
  const types = knownSinkTypes()
  const sinks = isObject(raw.sinks) ? raw.sinks as Record<string, Record<string, unknown>> : {}
  for (const [id, s] of Object.entries(sinks)) {
    if (!isObject(s) || typeof s.type !== 'string') continue // reported by the schema
    const sp = `/sinks/${escapePointer(id)}`
    if (!types.includes(s.type)) {
      const hint = suggest(s.type, types)
      issues.push(issueAt(ctx, `${sp}/type`, `unknown sink type ${JSON.stringify(s.type)}${hint !== null ? ` (did you mean "${hint}"?)` : ''}; known types: ${types.join(', ')}`))
      continue
    }
    const validate = validatorFor(`sinks/${s.type}`)
    if (validate === null) continue // a registered type whose schema is not written yet: options unchecked
    // The sink's schema checks the whole object (with `type`) and fills in its defaults.
    const found = validateWith(validate, s, { file, loc, basePointer: sp })
    issues.push(...found.map((i) => i.message.startsWith('unknown key') ? { ...i, message: `${i.message} (options of a "${s.type as string}" sink)` } : i))
  }

  // Modules (netconsd-style) become sinks that see every record not dropped.
  const modules = (Array.isArray(raw.modules) ? raw.modules : []).filter((m): m is string => typeof m === 'string').map((m) => resolve(dir, m))
  raw.modules = modules
  const moduleSinks = moduleSinkIds(modules, Object.keys(sinks))
  modules.forEach((m, i) => {
    sinks[moduleSinks[i]!] = { type: 'module', path: m }
    if (!existsSync(m)) issues.push(issueAt(ctx, `/modules/${i}`, `output module ${m} does not exist`))
  })
  raw.moduleSinks = moduleSinks
  for (const [id, s] of Object.entries(sinks)) {
    if (isObject(s) && s.type === 'module' && typeof s.path === 'string' && !moduleSinks.includes(id)) {
      const abs = resolve(dir, s.path)
      s.path = abs
      if (!existsSync(abs)) issues.push(issueAt(ctx, `/sinks/${escapePointer(id)}/path`, `output module ${abs} does not exist`))
    }
  }

  // Rule packs.
  const rules: RuleConfig[] = []
  const origins: Array<{ file: string, loc: Locations | null, pointer: string }> = []
  const include = Array.isArray(raw.include) ? raw.include.filter((x): x is string => typeof x === 'string') : []
  const seenPacks = new Set<string>()
  for (const [i, pattern] of include.entries()) {
    const g = await expandGlob(pattern, dir)
    if (g.baseMissing) { issues.push(issueAt(ctx, `/include/${i}`, `include ${JSON.stringify(pattern)} matches nothing: ${resolve(dir, pattern)} does not exist${shippedPackHint(pattern)}`)); continue }
    for (const packFile of g.files.filter((f) => !f.endsWith('.cases.json5'))) {
      if (seenPacks.has(packFile) || packFile === file) continue
      seenPacks.add(packFile)
      let pack: ParsedFile
      try {
        pack = await readJson5(packFile, 'rule pack')
      } catch (err) {
        issues.push(...((err as { errors?: ConfigIssue[] }).errors ?? [{ file: packFile, path: '(file)', message: String(err) }]))
        continue
      }
      const pctx: IssueContext = { file: packFile, loc: pack.loc, basePointer: '' }
      const pEnv: Array<{ pointer: string, message: string }> = []
      substituteEnv(pack.value, env, pEnv)
      for (const e of pEnv) issues.push(issueAt(pctx, e.pointer, e.message))
      const found = validateWith(validatorFor('rule-pack')!, pack.value, pctx)
      issues.push(...found)
      if (found.length > 0 || !isObject(pack.value)) continue
      ;(pack.value.rules as RuleConfig[]).forEach((r, j) => { rules.push(r); origins.push({ file: packFile, loc: pack.loc, pointer: `/rules/${j}` }) })
    }
  }
  if (Array.isArray(raw.rules)) {
    (raw.rules as RuleConfig[]).forEach((r, j) => { rules.push(r); origins.push({ file, loc, pointer: `/rules/${j}` }) })
  } else if (!ownRulesGiven && include.length === 0) {
    // No rules at all: everything goes to every declared sink (module sinks get it anyway).
    const to = Object.keys(sinks).filter((id) => !moduleSinks.includes(id))
    if (to.length > 0) { rules.push({ id: 'all', to }); origins.push({ file, loc: null, pointer: '' }) }
  }
  raw.rules = rules

  const ruleCtx = (i: number): IssueContext => ({ file: origins[i]!.file, loc: origins[i]!.loc, basePointer: origins[i]!.pointer })

  // Cross-references. Checked even when the schema found problems elsewhere, so that one run
  // lists every problem (each check guards its own types); compiling the rules waits for a
  // sound structure.
  {
    const sinkIds = Object.keys(sinks)
    const sinkList = sinkIds.length === 0 ? '(none declared)' : sinkIds.join(', ')
    const unknownSink = (id: string): string => {
      const hint = suggest(id, sinkIds)
      return `unknown sink ${JSON.stringify(id)}${hint !== null ? ` (did you mean "${hint}"?)` : ''}; declared sinks: ${sinkList}`
    }
    const firstSeen = new Map<string, number>()
    rules.forEach((r, i) => {
      if (!isObject(r)) return
      const prev = firstSeen.get(r.id)
      if (prev !== undefined) {
        const o = origins[prev]!
        const at = issueAt({ file: o.file, loc: o.loc, basePointer: o.pointer }, '/id', '')
        issues.push(issueAt(ruleCtx(i), '/id', `duplicate rule id ${JSON.stringify(r.id)} (first defined at ${at.file}${at.line !== undefined ? `:${at.line}` : ''})`))
      } else firstSeen.set(r.id, i)
      ;(Array.isArray(r.to) ? r.to : []).forEach((id, j) => { if (typeof id === 'string' && !(id in sinks)) issues.push(issueAt(ruleCtx(i), `/to/${j}`, unknownSink(id))) })
      if (r.to === undefined && r.drop !== true && r.set === undefined) issues.push(issueAt(ruleCtx(i), '', `rule ${JSON.stringify(r.id)} does nothing: give it "to", "set" or "drop"`))
      if (r.drop === true && r.to !== undefined) issues.push(issueAt(ruleCtx(i), '/drop', `rule ${JSON.stringify(r.id)} has both "drop" and "to"; a dropped record goes nowhere — remove one`))
    })
    const unmatched = raw.unmatched as { to?: unknown } | undefined
    const unmatchedTo = isObject(unmatched) && Array.isArray(unmatched.to) ? unmatched.to.filter((x): x is string => typeof x === 'string') : []
    unmatchedTo.forEach((id, j) => { if (!(id in sinks)) issues.push(issueAt(ctx, `/unmatched/to/${j}`, unknownSink(id))) })
    // Compile every rule now: bad regexes, level names, CIDRs. A schema problem elsewhere must not
    // hide them ("every problem at once"), so the rules the schema found sound are compiled anyway;
    // a rule with a schema problem of its own is left out (its shape is unknown).
    const sound = rules.flatMap((r, i) => isObject(r) && !(origins[i]!.file === file && hasIssueUnder(schemaIssues, file, pointerToPath(origins[i]!.pointer))) ? [i] : [])
    const onIssue = (k: number, p: string, m: string): void => { issues.push(issueAt(ruleCtx(sound[k]!), p, m)) }
    const compile = (): unknown => buildRouter({ rules: sound.map((i) => rules[i]!), sinkIds, unmatchedTo, taps: moduleSinks }, onIssue)
    if (!structural) compile()
    else try { compile() } catch { /* a shape the schema already reported; its problems are listed */ }
  }

  // Checks that stand alone (each guards its own types).
  const hostsSec = raw.hosts
  const inventory = isObject(hostsSec) && isObject(hostsSec.inventory) ? hostsSec.inventory : {}
  for (const k of Object.keys(inventory)) {
    if (parseCidr(k) === null) issues.push(issueAt(ctx, `/hosts/inventory/${escapePointer(k)}`, `expected an address or CIDR (10.1.2.3, 10.1.0.0/16, 2001:db8::/48), found ${JSON.stringify(k)}`, true))
  }
  const n = isObject(raw.ncrx) ? raw.ncrx : {}
  if (typeof n.gcIntervalMs === 'number' && typeof n.gcAgeMs === 'number' && n.gcIntervalMs > 0 && n.gcAgeMs < n.gcIntervalMs) {
    issues.push(issueAt(ctx, '/ncrx/gcAgeMs', `expected gcAgeMs >= gcIntervalMs (${n.gcIntervalMs}), found ${n.gcAgeMs}`))
  }

  // Route test files: absolute, globs expanded.
  const tests: string[] = []
  const testPatterns = Array.isArray(raw.tests) ? raw.tests.filter((x): x is string => typeof x === 'string') : []
  for (const [i, pattern] of testPatterns.entries()) {
    const g = await expandGlob(pattern, dir)
    if (g.baseMissing || g.files.length === 0) issues.push(issueAt(ctx, `/tests/${i}`, `tests ${JSON.stringify(pattern)} matches no file (looked in ${resolve(dir, pattern)})${shippedPackHint(pattern)}`))
    tests.push(...g.files)
  }
  raw.tests = tests

  if (issues.length > 0) throw invalid(file, issues)

  const config = { ...raw, file, dir } as unknown as Config
  rules.forEach((r, i) => {
    const o = origins[i]!
    const p = o.loc?.value.get(o.pointer)
    const origin: Origin = { file: o.file }
    if (p !== undefined) { origin.line = p.line; origin.column = p.column }
    ruleOrigins.set(r, origin)
  })
  deepFreeze(config)
  loadOptions.set(config, { ...opts })
  return config
}

// The example config names the shipped packs as `routes/...`, relative to itself: a copy of it
// elsewhere (/etc/netconsd) needs them beside it; say where they are.
function shippedPackHint (pattern: string): string {
  if (!pattern.startsWith('routes/')) return ''
  return `; the packs shipped with netconsd are in ${fileURLToPath(new URL('../../../routes/', import.meta.url))}: copy that directory beside the config (deploy/INSTALL.md step 3)`
}

function hasIssueUnder (found: readonly ConfigIssue[], file: string, path: string): boolean {
  return found.some((x) => x.file === file && (x.path === path || x.path.startsWith(path + '.') || x.path.startsWith(path + '[')))
}

/** Human-readable rendering of a config error: one line per problem, `file:line:col: path: message`. */
export function formatConfigErrors (err: unknown): string {
  const e = err as { message?: string, errors?: ConfigIssue[], code?: string }
  const errors = Array.isArray(e.errors) ? e.errors : []
  if (errors.length === 0) return String(e.message ?? err)
  const lines = [e.message ?? 'Configuration is invalid.']
  for (const i of errors) {
    const where = `${i.file}${i.line !== undefined ? `:${i.line}:${i.column ?? 1}` : ''}`
    lines.push(`  ${where}: ${i.path}: ${i.message}`)
  }
  return lines.join('\n')
}

export interface ReloadResult {
  ok: true
  config: Config
  /** Settings that changed in the file but need a restart; the running values were kept. */
  needsRestart: string[]
  sinks: { added: string[], removed: string[], changed: string[] }
}

/** Paths whose change cannot be applied without dropping the socket or ncrx state. */
const RESTART_ONLY = ['listen', 'workers', 'ncrx'] as const

/**
 * Re-reads `file` (SIGHUP) with the env and CLI overrides `current` was loaded with. On success the
 * caller swaps rules, hosts and sinks atomically; restart-only sections keep their running values
 * (listed in `needsRestart`). On failure nothing changes and `errors` says why.
 */
export async function reloadConfig (current: Config, file: string): Promise<ReloadResult | { ok: false, errors: ConfigIssue[], error: NetconsdError }> {
  const prev = loadOptions.get(current) ?? {}
  let next: Config
  try {
    next = await loadConfig({ ...prev, file })
  } catch (err) {
    const e = err instanceof NetconsdError ? err : new NetconsdError('NETCONSD_ERR_CONFIG_READ', String((err as Error)?.message ?? err), { file }, { cause: err })
    return { ok: false, errors: (e.errors as ConfigIssue[] | undefined) ?? [{ file, path: '(file)', message: e.message }], error: e }
  }
  const needsRestart: string[] = []
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)
  let out = next
  for (const k of RESTART_ONLY) {
    if (!same(current[k], next[k])) {
      const cur = current[k] as unknown as Record<string, unknown>
      const nxt = next[k] as unknown as Record<string, unknown>
      for (const f of Object.keys({ ...cur, ...nxt })) if (!same(cur[f], nxt[f])) needsRestart.push(`${k}.${f}`)
      out = { ...out, [k]: current[k] }
    }
  }
  if (out !== next) {
    const opts = loadOptions.get(next)
    out = deepFreeze(out)
    if (opts !== undefined) loadOptions.set(out, opts)
  }
  const a = current.sinks; const b = out.sinks
  const sinks = {
    added: Object.keys(b).filter((id) => !(id in a)),
    removed: Object.keys(a).filter((id) => !(id in b)),
    changed: Object.keys(b).filter((id) => id in a && !same(a[id], b[id]))
  }
  return { ok: true, config: out, needsRestart, sinks }
}
