/**
 * The per-record hot path of the syslog encoder: the same bytes as `formatRfc5424` /
 * `formatRfc3164` (the reference, kept and property-tested against this in
 * test/sinks/syslog/fast.test.ts), with everything that depends only on the host and the sink
 * built once:
 *
 *   per sink:  SD-ID prefixes (`[netconsd@PEN`), APP-NAME / TAG, the PRI strings `<N>1 `
 *   per host:  ` HOSTNAME APP-NAME - ` (RFC 3164: ` HOSTNAME TAG: `), the core element's
 *              `src="…"` and the whole labels element
 *   per ms:    the RFC 3339 timestamp (RFC 3164: per second)
 *   per record: the rest of the SD, the text; one string, no Buffer
 *
 * A record that does not fit `maxMessageBytes` (SD elements to leave out, MSG to cut) goes through
 * the reference formatter: rare, and its rules stay in one place.
 */
import type { HostInfo, NetconsRecord } from '../../types.js'
import { displayAddress, escapeControls, headerField, prival, stripTrailingNewlines } from './fields.js'
import { escapeParamValue, hostnameOf, LIMITS, sdName, type Rfc5424Options } from './rfc5424.js'
import { tag, timestamp3164 } from './rfc3164.js'

/** Hosts a worker keeps header parts for; beyond it the oldest entry goes (Map keeps insertion order). */
const HOST_CACHE_MAX = 4096

interface HostParts {
  // The HostInfo fields the parts were built from: resolvers update a host's name in place.
  name: string
  address: string
  labels: Readonly<Record<string, string>>
  /** ` HOSTNAME APP-NAME - ` (5424) or ` HOSTNAME TAG: ` (3164). */
  mid: string
  /** `[netconsd@PEN src="…"` */
  core: string
  /** The labels element, or '' when there are none (or labels are off). */
  labelsEl: string
}

export interface FastOptions extends Rfc5424Options {
  format: 'rfc5424' | 'rfc3164'
}

function params (prefix: string, entries: ReadonlyArray<readonly [string, string]>): string {
  if (entries.length === 0) return ''
  let s = prefix
  for (const [k, v] of entries) s += ' ' + sdName(k) + '="' + escapeParamValue(v) + '"'
  return s + ']'
}

/** PARAM-VALUE of a number or fixed ASCII word: nothing to escape. */
function isAscii (s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

export class FastFormatter {
  readonly #o: FastOptions
  readonly #hosts = new Map<HostInfo, HostParts>()
  readonly #pri: string[] = []
  readonly #app: string
  readonly #tag: string
  readonly #idIncident: string
  readonly #idEvent: string
  readonly #idAttrs: string
  readonly #idDict: string
  readonly #idCore: string
  readonly #idLabels: string
  #tsMs = NaN
  #ts = ''
  #ts3164Sec = NaN
  #ts3164 = ''

  constructor (opts: FastOptions) {
    this.#o = opts
    for (let p = 0; p < 192; p++) this.#pri.push(`<${p}>` + (opts.format === 'rfc5424' ? '1 ' : ''))
    this.#app = headerField(opts.appName, LIMITS.appName)
    this.#tag = tag(opts.appName)
    const pen = String(opts.enterpriseId)
    this.#idCore = '[' + sdName(`netconsd@${pen}`)
    this.#idIncident = '[' + sdName(`netconsdIncident@${pen}`)
    this.#idEvent = '[' + sdName(`netconsdEvent@${pen}`)
    this.#idAttrs = '[' + sdName(`netconsdAttrs@${pen}`)
    this.#idLabels = '[' + sdName(`netconsdLabels@${pen}`)
    this.#idDict = '[' + sdName(`netconsdDict@${pen}`)
  }

  #host (h: HostInfo, rec: NetconsRecord): HostParts {
    const c = this.#hosts.get(h)
    if (c !== undefined && c.name === h.name && c.address === h.address && c.labels === h.labels) return c
    const host = headerField(hostnameOf(rec, this.#o.hostname), LIMITS.hostname)
    const p: HostParts = {
      name: h.name,
      address: h.address,
      labels: h.labels,
      mid: this.#o.format === 'rfc5424' ? ` ${host} ${this.#app} - ` : ` ${host} ${this.#tag}: `,
      core: this.#idCore + ' src="' + escapeParamValue(displayAddress(h.address)) + '"',
      labelsEl: this.#o.includeLabels ? params(this.#idLabels, Object.entries(h.labels)) : ''
    }
    if (c === undefined && this.#hosts.size >= HOST_CACHE_MAX) this.#hosts.delete(this.#hosts.keys().next().value!)
    this.#hosts.set(h, p)
    return p
  }

  #timestamp (ms: number): string | null {
    if (ms === this.#tsMs) return this.#ts
    if (!Number.isFinite(ms)) return null
    const d = new Date(ms)
    if (Number.isNaN(d.getTime())) return null
    this.#tsMs = ms
    this.#ts = d.toISOString()
    return this.#ts
  }

  #timestamp3164 (ms: number): string | null {
    // Not finite: the reference uses the current time; let it.
    if (!Number.isFinite(ms)) return null
    const sec = Math.floor(ms / 1000)
    if (sec !== this.#ts3164Sec) {
      this.#ts3164Sec = sec
      this.#ts3164 = timestamp3164(ms)
    }
    return this.#ts3164
  }

  /**
   * The whole SYSLOG-MSG as a string and its UTF-8 length, or null when the record needs the
   * reference formatter (it does not fit `maxMessageBytes`, or an odd timestamp). With
   * `utf8Bom` the BOM is not in the string: `bom` says where it goes (the string offset).
   */
  format (rec: NetconsRecord): { s: string, bytes: number, bomAt: number } | null {
    const o = this.#o
    const hp = this.#host(rec.host, rec)
    const pri = this.#pri[prival(o.facility ?? rec.facility, rec.level ?? o.legacySeverity)]!
    if (o.format === 'rfc3164') {
      const ts = this.#timestamp3164(rec.receivedAt)
      if (ts === null) return null
      const head = pri + ts + hp.mid
      const text = escapeControls(stripTrailingNewlines(rec.text))
      const s = head + text
      // head is ASCII (headerField and tag leave nothing else).
      const bytes = head.length + (isAscii(text) ? text.length : Buffer.byteLength(text))
      return bytes <= o.maxMessageBytes ? { s, bytes, bomAt: -1 } : null
    }
    const ts = this.#timestamp(rec.receivedAt)
    if (ts === null) return null
    let sd = hp.core
    if (rec.seq !== null) sd += ' seq="' + rec.seq + '"'
    if (rec.tsUsec !== null) sd += ' tsUsec="' + rec.tsUsec + '"'
    if (rec.level !== null) sd += ' level="' + rec.level + '"'
    sd += ' facility="' + rec.facility + '" format="' + rec.format + '"'
    if (rec.release !== null) sd += ' release="' + escapeParamValue(rec.release) + '"'
    if (rec.contStart) sd += ' contStart="1"'
    if (rec.cont) sd += ' cont="1"'
    if (rec.oos) sd += ' oos="1"'
    if (rec.seqReset) sd += ' seqReset="1"'
    if (rec.incomplete) sd += ' incomplete="1"'
    if (rec.lostBefore > 0) sd += ' lostBefore="' + rec.lostBefore + '"'
    sd += ']'
    if (rec.incident !== undefined) {
      const i = rec.incident
      sd += this.#idIncident + ' type="' + escapeParamValue(i.type) + '" signature="' + escapeParamValue(i.signature) + '"'
      if (i.function !== null) sd += ' function="' + escapeParamValue(i.function) + '"'
      sd += ' title="' + escapeParamValue(i.title) + '"]'
    }
    if (rec.event !== undefined) {
      let e = this.#idEvent + ' type="' + escapeParamValue(rec.event.type) + '"'
      for (const k in rec.event) {
        if (!Object.hasOwn(rec.event, k)) continue
        const v = rec.event[k]
        if (k === 'type' || v === null || v === undefined || typeof v === 'object') continue
        e += ' ' + sdName(k) + '="' + escapeParamValue(String(v)) + '"'
      }
      sd += e + ']'
    }
    let hasAttrs = false
    for (const k in rec.attributes) { if (Object.hasOwn(rec.attributes, k)) { hasAttrs = true; break } }
    if (hasAttrs) sd += params(this.#idAttrs, Object.entries(rec.attributes))
    sd += hp.labelsEl
    if (o.includeDict && rec.dict.length > 0) sd += params(this.#idDict, rec.dict)
    const msgid = rec.kind === 'log' ? '-' : headerField(rec.kind, LIMITS.msgId)
    const head = pri + ts + hp.mid + msgid + ' ' + sd
    let text = stripTrailingNewlines(rec.text)
    if (o.multiline === 'escape') text = escapeControls(text)
    const headBytes = isAscii(sd) ? head.length : Buffer.byteLength(head)
    if (text === '') return headBytes <= o.maxMessageBytes ? { s: head, bytes: headBytes, bomAt: -1 } : null
    const bom = o.utf8Bom ? 3 : 0
    const bytes = headBytes + 1 + bom + (isAscii(text) ? text.length : Buffer.byteLength(text))
    if (bytes > o.maxMessageBytes) return null
    return { s: head + ' ' + text, bytes, bomAt: bom === 0 ? -1 : head.length + 1 }
  }
}
