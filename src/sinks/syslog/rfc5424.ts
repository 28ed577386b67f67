/**
 * RFC 5424 message formatter (pure; no I/O).
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [netconsd@PEN ...][...] MSG
 *
 * - TIMESTAMP is the arrival time (`receivedAt`, UTC, millisecond precision): the sender's
 *   clock is unknown, the kernel's `tsUsec` is time since boot and travels in structured data.
 * - HOSTNAME is the inventory / reverse-DNS name (or the address, IPv4-mapped shown as IPv4).
 * - PROCID is NILVALUE; MSGID is NILVALUE for log lines, `incident` / `event` for those kinds.
 * - Structured data (§6.3) uses private SD-IDs `name@<enterpriseId>` (§7.2.2). Elements are
 *   listed most important first; when header + SD would not fit `maxMessageBytes`, the least
 *   important elements are left out (counted) before the MSG is cut.
 * - MSG is cut at a UTF-8 boundary to fit `maxMessageBytes` (§6.1), after trailing newlines
 *   are removed; with `multiline: 'escape'` control characters become `#ooo` (LF = `#012`).
 */
import type { NetconsRecord } from '../../types.js'
import { displayAddress, escapeControls, headerField, prival, stripTrailingNewlines, utf8Prefix } from './fields.js'

/** RFC 5424 §6 field limits, in octets. */
export const LIMITS = Object.freeze({ hostname: 255, appName: 48, procId: 128, msgId: 32, sdName: 32 })

const BOM = Buffer.from([0xef, 0xbb, 0xbf])

export interface Rfc5424Options {
  appName: string
  hostname: 'name' | 'address'
  /** Facility code to send, or null for the record's own. */
  facility: number | null
  /** Severity for legacy records, which carry no level. */
  legacySeverity: number
  enterpriseId: number
  includeDict: boolean
  includeLabels: boolean
  multiline: 'keep' | 'escape'
  utf8Bom: boolean
  maxMessageBytes: number
}

export interface Encoded {
  bytes: Buffer
  /** The MSG was cut to fit `maxMessageBytes`. */
  truncated: boolean
  /** Structured-data elements left out to fit `maxMessageBytes`. */
  sdElementsDropped: number
}

/**
 * PARAM-VALUE escaping (§6.3.3): `"`, `\` and `]` MUST be escaped with a backslash. Control
 * characters are escaped too (`#012`): a raw newline inside SD helps no receiver and breaks
 * line-framed ones.
 */
export function escapeParamValue (v: string): string {
  return escapeControls(v).replace(/["\\\]]/g, (c) => '\\' + c)
}

/** SD-NAME (§6.3.2/6.3.3): 1..32 PRINTUSASCII except `=`, SP, `]`, `"`. Other characters become `_`. */
export function sdName (name: string): string {
  let out = ''
  for (const ch of name) {
    if (out.length >= LIMITS.sdName) break
    const c = ch.codePointAt(0)!
    out += c >= 33 && c <= 126 && ch !== '=' && ch !== ']' && ch !== '"' ? ch : '_'
  }
  return out === '' ? '_' : out
}

/** One SD-ELEMENT; null when it has no parameters (an empty element says nothing). */
function sdElement (id: string, params: ReadonlyArray<readonly [string, string]>): string | null {
  if (params.length === 0) return null
  let s = '[' + sdName(id)
  for (const [k, v] of params) s += ' ' + sdName(k) + '="' + escapeParamValue(v) + '"'
  return s + ']'
}

/** The SD elements for a record, most important first. */
export function structuredData (rec: NetconsRecord, opts: Pick<Rfc5424Options, 'enterpriseId' | 'includeDict' | 'includeLabels'>): string[] {
  const pen = String(opts.enterpriseId)
  const core: Array<[string, string]> = [['src', displayAddress(rec.host.address)]]
  if (rec.seq !== null) core.push(['seq', String(rec.seq)])
  if (rec.tsUsec !== null) core.push(['tsUsec', String(rec.tsUsec)])
  if (rec.level !== null) core.push(['level', String(rec.level)])
  core.push(['facility', String(rec.facility)])
  core.push(['format', rec.format])
  if (rec.release !== null) core.push(['release', rec.release])
  if (rec.contStart) core.push(['contStart', '1'])
  if (rec.cont) core.push(['cont', '1'])
  if (rec.oos) core.push(['oos', '1'])
  if (rec.seqReset) core.push(['seqReset', '1'])
  if (rec.incomplete) core.push(['incomplete', '1'])
  if (rec.lostBefore > 0) core.push(['lostBefore', String(rec.lostBefore)])
  const out: Array<string | null> = [sdElement(`netconsd@${pen}`, core)]
  if (rec.incident !== undefined) {
    const i = rec.incident
    const p: Array<[string, string]> = [['type', i.type], ['signature', i.signature]]
    if (i.function !== null) p.push(['function', i.function])
    p.push(['title', i.title])
    out.push(sdElement(`netconsdIncident@${pen}`, p))
  }
  if (rec.event !== undefined) {
    const p: Array<[string, string]> = [['type', rec.event.type]]
    for (const [k, v] of Object.entries(rec.event)) {
      if (k === 'type' || v === null || v === undefined || typeof v === 'object') continue
      p.push([k, String(v)])
    }
    out.push(sdElement(`netconsdEvent@${pen}`, p))
  }
  out.push(sdElement(`netconsdAttrs@${pen}`, Object.entries(rec.attributes)))
  if (opts.includeLabels) out.push(sdElement(`netconsdLabels@${pen}`, Object.entries(rec.host.labels)))
  // Dictionary keys may repeat; §6.3.3 allows a PARAM-NAME more than once in an element.
  if (opts.includeDict) out.push(sdElement(`netconsdDict@${pen}`, rec.dict))
  return out.filter((e): e is string => e !== null)
}

function msgId (rec: NetconsRecord): string | null {
  return rec.kind === 'log' ? null : rec.kind
}

export function hostnameOf (rec: NetconsRecord, from: 'name' | 'address'): string {
  return from === 'address' || rec.host.name === '' ? displayAddress(rec.host.address) : displayAddress(rec.host.name)
}

/** RFC 3339 as RFC 5424 §6.2.3 restricts it: UTC `Z`, at most 6 fraction digits. NILVALUE if unknown. */
function timestamp5424 (ms: number): string {
  if (!Number.isFinite(ms)) return '-'
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? '-' : d.toISOString()
}

export function formatRfc5424 (rec: NetconsRecord, opts: Rfc5424Options): Encoded {
  const severity = rec.level ?? opts.legacySeverity
  const header = `<${prival(opts.facility ?? rec.facility, severity)}>1 ${timestamp5424(rec.receivedAt)} ` +
    `${headerField(hostnameOf(rec, opts.hostname), LIMITS.hostname)} ${headerField(opts.appName, LIMITS.appName)} ` +
    `- ${headerField(msgId(rec), LIMITS.msgId)} `
  const headerBytes = Buffer.byteLength(header)

  let elements = structuredData(rec, opts)
  let sdBytes = elements.reduce((n, e) => n + Buffer.byteLength(e), 0)
  let sdElementsDropped = 0
  // Leave out the least important elements until header + SD fit; the core element always stays.
  while (elements.length > 1 && headerBytes + sdBytes > opts.maxMessageBytes) {
    sdBytes -= Buffer.byteLength(elements[elements.length - 1]!)
    elements = elements.slice(0, -1)
    sdElementsDropped++
  }
  const sd = elements.length === 0 ? '-' : elements.join('')

  let text = stripTrailingNewlines(rec.text)
  if (opts.multiline === 'escape') text = escapeControls(text)
  const head = Buffer.from(header + sd)
  if (text === '') return { bytes: head, truncated: false, sdElementsDropped }

  const bom = opts.utf8Bom ? BOM : null
  const room = opts.maxMessageBytes - head.length - 1 - (bom?.length ?? 0)
  const full = Buffer.from(text)
  const msg = utf8Prefix(full, Math.max(0, room))
  const parts: Buffer[] = [head, Buffer.from(' ')]
  if (bom !== null) parts.push(bom)
  parts.push(msg)
  return { bytes: Buffer.concat(parts), truncated: msg.length < full.length, sdElementsDropped }
}
