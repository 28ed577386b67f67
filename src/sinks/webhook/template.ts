/**
 * `{{field.path}}` substitution into a JSON template. No expressions, no eval, no prototype
 * access: a placeholder is a dotted path of own properties of the record view.
 *
 * - A string that is exactly one placeholder (`"{{incident.frames}}"`) is replaced by the value
 *   itself, keeping its JSON type (number, array, object).
 * - Placeholders inside a longer string are interpolated as text (objects as JSON, null as '').
 * - Keys are templated too (as text), but a rendered key never replaces a literal one: record
 *   fields come from the network (a PTR name, a message), and `{"{{host.name}}": 1, "service": "x"}`
 *   must not let a host named `service` overwrite the literal key. The first key to claim a name wins,
 *   literal keys before rendered ones.
 */
import { NetconsdError } from '../../errors.js'

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json }

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g
/** Not global: `.test()` on a global regex keeps state between calls. */
const HAS_PLACEHOLDER = new RegExp(PLACEHOLDER.source)
const PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/
const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor'])

/** Own-property lookup of a dotted path; undefined when any step is missing. */
export function lookup (view: unknown, path: string): unknown {
  let cur: unknown = view
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || FORBIDDEN.has(part) || !Object.hasOwn(cur, part)) return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

function toText (v: unknown): string {
  if (v === undefined || v === null) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return JSON.stringify(v)
}

function toJson (v: unknown): Json {
  if (v === undefined) return null
  // Round-trip drops functions, Buffers become objects: the view only holds JSON data anyway.
  return JSON.parse(JSON.stringify(v)) as Json
}

/**
 * Checks every placeholder of a template, at start-up. Returns the problems (empty when fine)
 * with the JSON path of each, so the config error names all of them at once.
 */
export function checkTemplate (tpl: unknown, roots: ReadonlySet<string>, at = ''): string[] {
  const problems: string[] = []
  const checkString = (s: string, where: string): void => {
    for (const m of s.matchAll(PLACEHOLDER)) {
      const path = m[1]!
      if (!PATH.test(path)) problems.push(`${where}: "{{${path}}}" is not a dotted field path`)
      else if (path.split('.').some((p) => FORBIDDEN.has(p))) problems.push(`${where}: "{{${path}}}" uses a forbidden name`)
      else if (!roots.has(path.split('.')[0]!)) problems.push(`${where}: "{{${path}}}": unknown field "${path.split('.')[0]!}" (known: ${[...roots].join(', ')})`)
    }
  }
  if (typeof tpl === 'string') checkString(tpl, at === '' ? '/' : at)
  else if (Array.isArray(tpl)) tpl.forEach((v, i) => problems.push(...checkTemplate(v, roots, `${at}/${i}`)))
  else if (tpl !== null && typeof tpl === 'object') {
    for (const [k, v] of Object.entries(tpl)) {
      checkString(k, `${at}/${k}`)
      problems.push(...checkTemplate(v, roots, `${at}/${k}`))
    }
  }
  return problems
}

/** Renders a template against a view. Never throws for missing fields (they render as null / ''). */
export function renderTemplate (tpl: unknown, view: unknown): Json {
  if (typeof tpl === 'string') {
    const whole = /^\{\{\s*([^{}]*?)\s*\}\}$/.exec(tpl)
    if (whole !== null) return toJson(lookup(view, whole[1]!))
    return tpl.replace(PLACEHOLDER, (_, path: string) => toText(lookup(view, path)))
  }
  if (Array.isArray(tpl)) return tpl.map((v) => renderTemplate(v, view))
  if (tpl !== null && typeof tpl === 'object') {
    const out: Record<string, Json> = {}
    const entries = Object.entries(tpl)
    const templated = (k: string): boolean => HAS_PLACEHOLDER.test(k)
    const literal = new Set(entries.filter(([k]) => !templated(k)).map(([k]) => k))
    for (const [k, v] of entries) {
      let key = k
      if (templated(k)) {
        key = k.replace(PLACEHOLDER, (_, path: string) => toText(lookup(view, path)))
        if (literal.has(key) || Object.hasOwn(out, key)) continue
      }
      // defineProperty: a rendered key of "__proto__" must stay a plain key.
      Object.defineProperty(out, key, { value: renderTemplate(v, view), enumerable: true, writable: true, configurable: true })
    }
    return out
  }
  if (typeof tpl === 'number' || typeof tpl === 'boolean' || tpl === null) return tpl
  return null
}

/** Throws NETCONSD_ERR_SINK_OPTIONS listing every bad placeholder. */
export function assertTemplate (tpl: unknown, roots: ReadonlySet<string>, sinkId: string): void {
  const problems = checkTemplate(tpl, roots)
  if (problems.length > 0) {
    throw new NetconsdError('NETCONSD_ERR_SINK_OPTIONS', `sinks.${sinkId}.template: ${problems.join('; ')}.`, {
      sinkId, path: `sinks.${sinkId}.template`, errors: problems
    })
  }
}
