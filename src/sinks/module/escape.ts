/**
 * The kernel's escaped form of a record, as netconsd's libncrx hands it to output modules.
 *
 * printk escapes extended-console text bytes < 0x20, >= 0x7f and `\` as `\xNN` (lowercase hex;
 * kernel/printk/printk.c, msg_add_ext_text), so an embedded newline is `\x0a` and the first real
 * `\n` ends the text. ncrx unescapes for `text`/`raw`; C modules and netconsd's printer format
 * want the escaped bytes back.
 */
import type { NetconsRecord } from '../../types.js'

const HEX = '0123456789abcdef'

function escapes (c: number): boolean {
  return c < 0x20 || c >= 0x7f || c === 0x5c
}

/** `bytes` escaped by the kernel's rule (the same memory when nothing needs escaping). */
export function kernelEscape (bytes: Uint8Array): Buffer {
  let n = 0
  for (let i = 0; i < bytes.length; i++) n += escapes(bytes[i]!) ? 4 : 1
  if (n === bytes.length) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = Buffer.allocUnsafe(n)
  let o = 0
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    if (escapes(c)) {
      out[o++] = 0x5c
      out[o++] = 0x78
      out[o++] = HEX.charCodeAt(c >> 4)
      out[o++] = HEX.charCodeAt(c & 15)
    } else {
      out[o++] = c
    }
  }
  return out
}

/**
 * The extended record's body as it was on the wire after reassembly: `LogRecord.wire` when ncrx
 * kept it (while a C module is configured), else rebuilt with the kernel's escaping from the
 * decoded record — text, `\n`, then ` KEY=VALUE\n` per dictionary pair. The rebuilt form equals
 * the wire for everything a kernel sends, except a literal `\` that a 6.12 record cut mid-escape
 * leaves (`…\xc3\` at the 2048-byte cap), which comes back as `\x5c`.
 */
export function wireBody (rec: NetconsRecord): Buffer {
  const w = (rec as { wire?: Buffer | null }).wire
  if (w !== undefined && w !== null) return w
  const parts = [kernelEscape(rec.raw), NL]
  for (const [k, v] of rec.dict) parts.push(SP, kernelEscape(Buffer.from(k)), EQ, kernelEscape(Buffer.from(v)), NL)
  return Buffer.concat(parts)
}
const NL = Buffer.from('\n')
const SP = Buffer.from(' ')
const EQ = Buffer.from('=')

/** The extended record's text in the kernel's escaped form (ASCII). */
export function escapedText (rec: NetconsRecord): string {
  const w = (rec as { wire?: Buffer | null }).wire
  if (w !== undefined && w !== null) {
    const nl = w.indexOf(0x0a)
    return w.toString('latin1', 0, nl < 0 ? w.length : nl)
  }
  return kernelEscape(rec.raw).toString('latin1')
}
