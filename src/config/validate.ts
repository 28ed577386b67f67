/**
 * The one ajv instance: every schema in `schemas/` (the source of truth), `allErrors` so a user
 * sees every problem at once, unknown keys rejected by the schemas, defaults filled from them.
 * Turns ajv's errors into `ConfigIssue`s that name the file, line:col, path, expected and found.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { pointerToPath, escapePointer } from './locate.js'
import type { Locations } from './locate.js'

/** One problem in a config, rule pack or route case file. */
export interface ConfigIssue {
  file: string
  line?: number
  column?: number
  /** Path inside the file (`rules[2].match.level`). */
  path: string
  /** What was expected and what was found. */
  message: string
}

/** `schemas/` of this package (dist/src/config → ../../../schemas; same depth from src/config). */
const schemasDir = fileURLToPath(new URL('../../../schemas/', import.meta.url))
const BASE = 'https://netconsd.dev/schemas/'

let ajv: Ajv2020 | null = null
const compiled = new Map<string, ValidateFunction>()

function getAjv (): Ajv2020 {
  if (ajv !== null) return ajv
  ajv = new Ajv2020({ allErrors: true, verbose: true, useDefaults: true, strict: true, strictTypes: false, allowUnionTypes: true, coerceTypes: false })
  const load = (dir: string, prefix: string): void => {
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.schema.json')) continue
      const schema = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { $id?: string }
      const id = schema.$id ?? `${BASE}${prefix}${name}`
      ajv!.addSchema(schema, id)
    }
  }
  load(schemasDir, '')
  const sinksDir = join(schemasDir, 'sinks')
  if (existsSync(sinksDir)) load(sinksDir, 'sinks/')
  return ajv
}

/** Validator for a schema file under `schemas/` (`config`, `rule-pack`, `route-cases`, `sinks/otlp`). Null if the file does not exist. */
export function validatorFor (name: string): ValidateFunction | null {
  const hit = compiled.get(name)
  if (hit !== undefined) return hit
  const a = getAjv()
  const v = a.getSchema(`${BASE}${name}.schema.json`) ?? null
  if (v !== null) compiled.set(name, v)
  return v
}

/** Property names a schema allows, following `allOf` / `$ref` (for "expected one of" in messages). */
function allowedKeys (schema: unknown, seen = new Set<unknown>()): string[] {
  if (typeof schema !== 'object' || schema === null || seen.has(schema)) return []
  seen.add(schema)
  const s = schema as { properties?: Record<string, unknown>, allOf?: unknown[], $ref?: string, $id?: string }
  const out = Object.keys(s.properties ?? {})
  for (const sub of s.allOf ?? []) {
    const ref = (sub as { $ref?: string }).$ref
    if (ref !== undefined) {
      const target = getAjv().getSchema(new URL(ref, s.$id ?? BASE).href)?.schema
      out.push(...allowedKeys(target, seen))
    } else out.push(...allowedKeys(sub, seen))
  }
  return [...new Set(out)].filter((x) => x !== '$schema')
}

export interface IssueContext {
  file: string
  loc: Locations | null
  /** Pointer of the validated value inside the file (`/sinks/out` for sink options). */
  basePointer: string
}

export function issueAt (ctx: IssueContext, ptr: string, message: string, atKey = false): ConfigIssue {
  const full = ctx.basePointer + ptr
  const issue: ConfigIssue = { file: ctx.file, path: pointerToPath(full), message }
  const p = ctx.loc === null ? undefined : (atKey ? ctx.loc.key.get(full) ?? ctx.loc.value.get(full) : ctx.loc.value.get(full)) ?? nearest(ctx.loc, full)
  if (p !== undefined) { issue.line = p.line; issue.column = p.column }
  return issue
}

function nearest (loc: Locations, ptr: string): { line: number, column: number } | undefined {
  let p = ptr
  while (p !== '') {
    p = p.slice(0, p.lastIndexOf('/'))
    const v = loc.value.get(p)
    if (v !== undefined) return v
  }
  return loc.value.get('')
}

/** A short, readable rendering of a found value. */
export function describe (v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (Array.isArray(v)) return `an array of ${v.length}`
  if (typeof v === 'object') {
    const keys = Object.keys(v)
    return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', ...' : ''}`
  }
  if (typeof v === 'string') return `${JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v)} (string)`
  return `${String(v)} (${typeof v})`
}

export function suggest (word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null
  let bestD = Infinity
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase())
    if (d < bestD) { bestD = d; best = c }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : null
}

function editDistance (a: string, b: string): number {
  const prev = new Array<number>(b.length + 1)
  for (let j = 0; j <= b.length; j++) prev[j] = j
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1))
      diag = tmp
    }
  }
  return prev[b.length]!
}

function valueAt (root: unknown, ptr: string): unknown {
  let v = root
  if (ptr === '') return v
  for (const raw of ptr.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Record<string, unknown>)[seg]
  }
  return v
}

/** Runs a validator; returns readable issues (empty when valid). Mutates `data` with schema defaults. */
export function validateWith (v: ValidateFunction, data: unknown, ctx: IssueContext): ConfigIssue[] {
  if (v(data)) return []
  return formatAjvErrors(v.errors ?? [], data, ctx)
}

function formatAjvErrors (errors: ErrorObject[], data: unknown, ctx: IssueContext): ConfigIssue[] {
  const out: ConfigIssue[] = []
  const seen = new Set<string>()
  // anyOf/oneOf report every branch's errors; one "expected <description>" line says it better.
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.schemaPath + '/')
  for (const e of errors) {
    if (unions.some((u) => e.schemaPath.startsWith(u))) continue
    // Errors inside `propertyNames` are reported once, by the propertyNames error itself.
    if (e.propertyName !== undefined && e.keyword !== 'propertyNames') continue
    const ptr = e.instancePath
    const found = valueAt(data, ptr)
    let issue: ConfigIssue
    switch (e.keyword) {
      case 'additionalProperties':
      case 'unevaluatedProperties': {
        const p = e.params as { additionalProperty?: string, unevaluatedProperty?: string }
        const k = p.additionalProperty ?? p.unevaluatedProperty ?? ''
        const allowed = allowedKeys(e.parentSchema)
        const hint = suggest(k, allowed)
        issue = issueAt(ctx, `${ptr}/${escapePointer(k)}`,
          `unknown key "${k}"${hint !== null ? ` (did you mean "${hint}"?)` : ''}; expected one of: ${allowed.join(', ')}`, true)
        break
      }
      case 'required': {
        const k = (e.params as { missingProperty: string }).missingProperty
        issue = issueAt(ctx, ptr, `missing required key "${k}"; found ${describe(found)}`)
        break
      }
      case 'type':
        issue = issueAt(ctx, ptr, `expected ${String((e.params as { type: string | string[] }).type).replace(/,/g, ' or ')}, found ${describe(found)}`)
        break
      case 'enum':
        issue = issueAt(ctx, ptr, `expected one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map((x) => JSON.stringify(x)).join(', ')}, found ${describe(found)}`)
        break
      case 'const':
        issue = issueAt(ctx, ptr, `expected ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, found ${describe(found)}`)
        break
      case 'propertyNames': {
        const k = (e.params as { propertyName: string }).propertyName
        issue = issueAt(ctx, `${ptr}/${escapePointer(k)}`, `invalid key "${k}": must start with a letter or digit and contain only letters, digits and _ . : -`, true)
        break
      }
      case 'pattern':
        if (e.instancePath.endsWith('/id') || (e.parentSchema as { pattern?: string })?.pattern?.startsWith('^[A-Za-z0-9]') === true) {
          issue = issueAt(ctx, ptr, `expected an id (letters, digits, _ . : -, not starting with a symbol), found ${describe(found)}`)
        } else {
          issue = issueAt(ctx, ptr, `expected ${(e.parentSchema as { description?: string })?.description ?? `a string matching ${(e.params as { pattern: string }).pattern}`}, found ${describe(found)}`)
        }
        break
      case 'anyOf':
      case 'oneOf':
        issue = issueAt(ctx, ptr, `expected ${((e.parentSchema as { description?: string })?.description ?? 'a value of another shape').replace(/\.$/, '')}, found ${describe(found)}`)
        break
      default:
        issue = issueAt(ctx, ptr, `expected ${(e.message ?? e.keyword).replace(/^must (be )?/, '')}, found ${describe(found)}`)
    }
    const key = `${issue.path}\0${issue.message}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push(issue)
  }
  return out
}
