/**
 * Line formats of the file sink. Every record becomes exactly one `\n`-terminated line, so a
 * reader (and our one-write-per-batch design) can rely on line boundaries.
 *
 * `text`, netconsd logger-like with a wall-clock stamp and the host in front:
 *
 *   2023-11-14T22:13:20.000Z web-1 6.12.0 S000042 T00000005000123 F0/L6 [SEQ RESET] text
 *   2023-11-14T22:13:20.000Z web-1 legacy console line
 *
 *   - time is the arrival time (UTC); S = printk seq, T = kernel timestamp (µs since boot),
 *     F/L = facility/level, as netconsd's printer and logger modules print them;
 *   - flags: [CONT START] [CONT] [OOS] [SEQ RESET] [INCOMPLETE] [LOST n], and
 *     [INCIDENT type] / [EVENT type] for those kinds;
 *   - trailing newlines are dropped; further lines of a multi-line text (an oops report) follow
 *     on continuation lines indented by four spaces; other control characters are written as
 *     `\xNN` (the kernel's own escape), so a log viewer never receives a raw escape sequence.
 *
 * `json`: one object per line, the shape the stdout sink prints (`recordToJson`).
 */
import type { NetconsRecord } from '../../types.js'
import { recordToJson } from '../stdout/index.js'

export type LineFormat = 'text' | 'json'

function escapeText (s: string): string {
  let end = s.length
  while (end > 0 && (s.charCodeAt(end - 1) === 10 || s.charCodeAt(end - 1) === 13)) end--
  const t = end === s.length ? s : s.slice(0, end)
  // Fast path: most kernel lines are plain.
  if (!/[\x00-\x08\x0a-\x1f\x7f]/.test(t)) return t
  return t.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, (c) => c === '\n' ? '\n    ' : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))
}

export function formatTextLine (rec: NetconsRecord): string {
  const d = new Date(rec.receivedAt)
  const time = Number.isNaN(d.getTime()) ? '-' : d.toISOString()
  let head = `${time} ${rec.host.name === '' ? rec.host.address : rec.host.name} `
  if (rec.format === 'extended') {
    if (rec.release !== null) head += `${rec.release} `
    head += `S${String(rec.seq ?? 0).padStart(6, '0')} T${String(rec.tsUsec ?? 0).padStart(14, '0')} F${rec.facility}/L${rec.level ?? 0} `
  }
  if (rec.kind === 'incident' && rec.incident !== undefined) head += `[INCIDENT ${rec.incident.type}] `
  if (rec.kind === 'event' && rec.event !== undefined) head += `[EVENT ${rec.event.type}] `
  if (rec.contStart) head += '[CONT START] '
  if (rec.cont) head += '[CONT] '
  if (rec.oos) head += '[OOS] '
  if (rec.seqReset) head += '[SEQ RESET] '
  if (rec.incomplete) head += '[INCOMPLETE] '
  if (rec.lostBefore > 0) head += `[LOST ${rec.lostBefore}] `
  return escapeText(head + rec.text) + '\n'
}

export function formatJsonLine (rec: NetconsRecord): string {
  // JSON.stringify escapes every control character, so the object is always one line.
  return JSON.stringify(recordToJson(rec)) + '\n'
}
