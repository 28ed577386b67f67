/**
 * Writes docs/config-reference.md from the JSON Schemas in schemas/ (the source of truth for options):
 * one table per config section and per sink type, with type, default and description.
 * `node dist/scripts/config-docs.js` rewrites it; `--check` exits 1 when it is out of date
 * (test/docs.test.ts runs the check, so the reference cannot drift from the schemas).
 */
import { readFileSync, writeFileSync, readdirSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The parts of a JSON Schema this renderer reads (the schemas are this repository's own). */
interface Schema {
  $ref?: string | undefined
  $defs?: Record<string, Schema>
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  anyOf?: Schema[]
  oneOf?: Schema[]
  items?: Schema
  minimum?: number
  maximum?: number
  default?: unknown
  description?: string
  properties?: Record<string, Schema>
  additionalProperties?: boolean | Schema
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const schemasDir = join(root, 'schemas')
const load = (rel: string): Schema => JSON.parse(readFileSync(join(schemasDir, rel), 'utf8')) as Schema

function typeOf (s: Schema, doc: Schema): string {
  if (s.$ref !== undefined && typeof s.$ref === 'string' && s.$ref.startsWith('#/$defs/')) return typeOf(doc.$defs![s.$ref.slice(8)]!, doc)
  if (s.enum !== undefined) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' | ')
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``
  if (s.anyOf !== undefined) return s.anyOf.map((x) => typeOf(x, doc)).join(' | ')
  if (s.oneOf !== undefined) return s.oneOf.map((x) => typeOf(x, doc)).join(' | ')
  const t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? '')
  if (t === 'array' && s.items?.type !== undefined) return `${String(s.items.type)}[]`
  const range = s.minimum !== undefined || s.maximum !== undefined ? ` (${s.minimum ?? ''}..${s.maximum ?? ''})` : ''
  return `${String(t)}${range}`
}

function cell (s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

/** Rows for every property under `s` (objects with `properties` are walked, paths dotted). */
function rows (s: Schema, doc: Schema, prefix: string, out: string[]): void {
  const props = s.properties ?? {}
  for (const [k, raw] of Object.entries(props)) {
    if (k === 'type' && raw.const !== undefined) continue
    let p = raw
    if (p.$ref !== undefined && typeof p.$ref === 'string' && p.$ref.startsWith('#/$defs/')) p = { ...doc.$defs![p.$ref.slice(8)], ...p, $ref: undefined }
    const path = `${prefix}${k}`
    const def = p.default !== undefined ? `\`${JSON.stringify(p.default)}\`` : ''
    out.push(`| \`${path}\` | ${cell(typeOf(p, doc))} | ${cell(def)} | ${cell(String(p.description ?? ''))} |`)
    if (p.properties !== undefined) rows(p, doc, `${path}.`, out)
    else if (p.additionalProperties !== undefined && typeof p.additionalProperties === 'object' && p.additionalProperties.properties !== undefined) {
      rows(p.additionalProperties, doc, `${path}.<key>.`, out)
    } else if (typeof p.additionalProperties === 'object' && p.additionalProperties.$ref !== undefined) {
      const ref = String(p.additionalProperties.$ref)
      if (ref.startsWith('#/$defs/')) rows(doc.$defs![ref.slice(8)]!, doc, `${path}.<key>.`, out)
    }
  }
}

function table (s: Schema, doc: Schema, prefix: string): string {
  const out = ['| option | type | default | description |', '|---|---|---|---|']
  rows(s, doc, prefix, out)
  return out.join('\n')
}

export function renderConfigDocs (): string {
  const config = load('config.schema.json')
  const parts: string[] = [
    '## Configuration reference (every option)',
    '',
    '<!-- Generated from schemas/*.schema.json by scripts/config-docs.ts; edit the schemas, then run',
    '     `node dist/scripts/config-docs.js`. test/docs.test.ts fails when this file is out of date. -->',
    '',
    'A config is one JSON5 file (`netconsd -c FILE`). Loading: parse JSON5 (errors with line:column) →',
    'substitute `${NAME}` / `${NAME:-default}` from the environment → check `version` (this netconsd reads',
    'version 1; another major version is refused) → merge command-line flags → validate against the',
    'schemas (unknown keys rejected; every problem reported at once with file, line:column, path,',
    'what was expected and what was found) → check references (rule `to` → declared sinks, regexes,',
    'CIDRs, module paths, included rule packs) → resolve relative paths against the config file →',
    'freeze. `netconsd check-config FILE` runs all of it, plus sink health checks and the route test',
    'cases the config lists in `tests`. SIGHUP reloads the file; an invalid file keeps the running config.',
    ''
  ]
  const props = config.properties as Record<string, Schema>
  for (const [k, p] of Object.entries(props)) {
    if (k === '$schema') continue
    let section = p
    let doc = config
    if (typeof p.$ref === 'string' && !p.$ref.startsWith('#')) { section = load(p.$ref); doc = section }
    parts.push(`### \`${k}\``, '')
    const desc = section.description ?? p.description
    if (desc !== undefined) parts.push(String(desc), '')
    if (section.properties !== undefined) parts.push(table(section, doc, `${k}.`), '')
    else {
      const def = section.default !== undefined ? ` Default: \`${JSON.stringify(section.default)}\`.` : ''
      parts.push(`Type: ${typeOf(section, doc)}.${def}`, '')
    }
  }
  parts.push('## Sink options by type', '', 'Each sink is `sinks: { <id>: { type: \'<type>\', ...options } }`. Network sinks (`otlp`, `webhook`, `syslog`) also take the delivery options.', '')
  const sinkFiles = readdirSync(join(schemasDir, 'sinks')).filter((f) => f.endsWith('.schema.json')).sort()
  for (const f of sinkFiles) {
    const s = load(join('sinks', f))
    const name = f.replace('.schema.json', '')
    parts.push(name === 'delivery' ? '### Delivery options (all batching sinks)' : `### \`type: "${name}"\``, '')
    if (s.description !== undefined) parts.push(String(s.description), '')
    parts.push(table(s, s, ''), '')
  }
  return parts.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n'
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]
if (isMain) {
  const target = join(root, 'docs', 'config-reference.md')
  const text = renderConfigDocs()
  if (process.argv.includes('--check')) {
    let current = ''
    try { current = readFileSync(target, 'utf8') } catch {}
    if (current !== text) { process.stderr.write('docs/config-reference.md is out of date: run node dist/scripts/config-docs.js\n'); process.exit(1) }
  } else {
    writeFileSync(target, text)
  }
}
