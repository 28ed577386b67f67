/**
 * Turning a reassembled body into text, raw bytes and dictionary pairs.
 *
 * Extended body (kernel `Documentation/ABI/testing/dev-kmsg`, netconsole.rst "Extended console"):
 *
 *   <escaped text>\n[ KEY=VALUE\n]...[ userkey=uservalue\n]...
 *
 * - The kernel escapes text bytes < 0x20, >= 0x7f and `\` as `\xNN` (lowercase hex), so an embedded
 *   newline is `\x0a` and the first real `\n` ends the text.
 * - Dictionary lines (`SUBSYSTEM=`, `DEVICE=`; arbitrary uppercase keys before 5.10) use the same
 *   escaping. Userdata/sysdata lines (6.9+, configfs) are appended after them **unescaped**. Rule here:
 *   lines are unescaped while their key is a kernel-style key (`[A-Z0-9_]+`); from the first other key
 *   on, every line is taken verbatim. (An uppercase userdata key whose value contains a literal `\xNN`
 *   would be unescaped; nothing on the wire tells the two apart.)
 * - Unescaping happens after reassembly: the kernel splits fragments anywhere, inside escapes too,
 *   and 6.12 caps a record at 2048 bytes even mid-escape (`...\xc3\` + `\n`). An incomplete escape
 *   (`\`, `\x`, `\xc`, `\xZZ`) stays as literal bytes.
 *
 * Legacy body: console text exactly as sent (`[    5.123456] text\n`, raw bytes, no escaping).
 */

const BSLASH = 0x5c
const NL = 0x0a
const EQ = 0x3d
const SPACE = 0x20

/** Hex digit value, or -1. */
function hexVal (c: number | undefined): number {
  if (c === undefined) return -1
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  return -1
}

/**
 * Copies src[start, end) into a new Buffer. Cheaper than Buffer.copyBytesFrom / subarray for the
 * short records of the hot path: one pooled allocation and a plain Uint8Array view (a Buffer view
 * would construct a FastBuffer).
 */
export function copyBytes (src: Uint8Array, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start)
  out.set(new Uint8Array(src.buffer, src.byteOffset + start, end - start))
  return out
}

/**
 * Copies src[start, end) into a new Buffer, turning every complete `\xNN` into the byte NN.
 * Incomplete escapes are kept literally. Never throws. `first` may give the index of the first
 * backslash when the caller already knows it (-1 = none in the range).
 */
export function unescapeBytes (src: Uint8Array, start: number, end: number, first: number = indexOfByte(src, BSLASH, start, end)): Buffer {
  if (first < 0) return copyBytes(src, start, end)
  const out = Buffer.allocUnsafe(end - start)
  let o = 0
  for (let i = start; i < first; i++) out[o++] = src[i]!
  let i = first
  while (i < end) {
    const c = src[i]!
    if (c === BSLASH && i + 3 < end && src[i + 1] === 0x78 /* x */) {
      const hi = hexVal(src[i + 2])
      const lo = hexVal(src[i + 3])
      if (hi >= 0 && lo >= 0) {
        out[o++] = (hi << 4) | lo
        i += 4
        continue
      }
    }
    out[o++] = c
    i++
  }
  return out.subarray(0, o)
}

/** Index of byte `c` in src[start, end), or -1 (a JS loop: faster than Buffer#indexOf for short ranges). */
function indexOfByte (src: Uint8Array, c: number, start: number, end: number): number {
  for (let i = start; i < end; i++) if (src[i] === c) return i
  return -1
}

function isKernelKey (src: Uint8Array, start: number, end: number): boolean {
  if (start >= end) return false
  for (let i = start; i < end; i++) {
    const c = src[i]!
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f)) return false
  }
  return true
}

/**
 * Parses dictionary/userdata lines in src[start, end): ` KEY=VALUE\n` each, in wire order, keys may
 * repeat. One leading space is stripped; a line without `=` becomes `[line, '']`; empty lines are
 * skipped.
 */
export function parseDict (src: Uint8Array, start: number, end: number): Array<[string, string]> {
  const out: Array<[string, string]> = []
  let escaped = true
  let view: Buffer | null = null
  let i = start
  while (i < end) {
    let nl = indexOfByte(src, NL, i, end)
    if (nl < 0) nl = end
    let ls = i
    if (src[ls] === SPACE && ls < nl) ls++
    if (ls < nl) {
      let eq = ls
      while (eq < nl && src[eq] !== EQ) eq++
      if (escaped && !isKernelKey(src, ls, eq)) escaped = false
      if (escaped) {
        out.push([unescapeBytes(src, ls, eq).toString(), eq < nl ? unescapeBytes(src, eq + 1, nl).toString() : ''])
      } else {
        const b = view ??= Buffer.from(src.buffer, src.byteOffset, src.byteLength)
        out.push([b.toString('utf8', ls, eq), eq < nl ? b.toString('utf8', eq + 1, nl) : ''])
      }
    }
    i = nl + 1
  }
  return out.length > 0 ? out : NO_DICT
}

/** Text, raw bytes and dictionary of an extended body src[start, end). */
export interface DecodedBody {
  text: string
  /** The bytes `text` was decoded from; null when they are exactly `Buffer.from(text)` (nothing was unescaped or replaced). */
  raw: Buffer | null
  dict: Array<[string, string]>
}

const bufUtf8Slice: ((this: Uint8Array, start: number, end: number) => string) | undefined =
  (Buffer.prototype as unknown as { utf8Slice?: (this: Uint8Array, start: number, end: number) => string }).utf8Slice

/**
 * UTF-8 text of src[start, end) without copying the bytes first: Buffer's own slice decoder where
 * Node has it (all supported versions), `toString` otherwise. `src` must be a Buffer.
 */
function utf8Text (src: Buffer, start: number, end: number): string {
  return bufUtf8Slice !== undefined ? bufUtf8Slice.call(src, start, end) : src.toString('utf8', start, end)
}

/** `u` as a Buffer over the same memory (no copy; `u` itself when it already is one). */
export function asBuffer (u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/**
 * Splits at the first `\n`, unescapes the text, parses the dictionary. Every scan stops at `end`
 * (`src` may be a whole batch). The text is decoded straight from `src` when it holds no escape;
 * `raw` is then left null unless decoding replaced bytes (invalid UTF-8), so the caller copies
 * nothing for the common, plain-ASCII kernel record. Fills `out` when given (the hot path reuses
 * one object); `dict` is {@link NO_DICT} when there are no dictionary lines.
 */
/**
 * The dictionary of a record that has none: one shared, frozen empty array (records are read-only
 * for sinks and modules; a new array per record is garbage the hot path does not need).
 */
export const NO_DICT: Array<[string, string]> = Object.freeze([]) as unknown as Array<[string, string]>

export function decodeExtendedBody (src: Buffer, start: number, end: number, out: DecodedBody = { text: '', raw: null, dict: NO_DICT }): DecodedBody {
  // Decode the whole body (text and dictionary lines, minus a final newline) in one native call,
  // then find the text's end and escapes with string searches. Valid only while string offsets are
  // byte offsets, i.e. every byte decoded to one UTF-16 unit (ASCII, or lone invalid bytes);
  // multi-byte UTF-8 sent unescaped by a non-kernel sender takes the byte-wise path.
  const bodyEnd = end > start && src[end - 1] === NL ? end - 1 : end
  const body = utf8Text(src, start, bodyEnd)
  let textEnd: number
  let bs: number
  let text: string | null = null
  if (body.length === bodyEnd - start) {
    const nl = body.indexOf('\n')
    textEnd = nl < 0 ? bodyEnd : start + nl
    const b = body.indexOf('\\')
    bs = b >= 0 && start + b < textEnd ? start + b : -1
    if (bs < 0) text = nl < 0 ? body : body.slice(0, nl)
  } else {
    // Multi-byte UTF-8: one byte scan for the text's end and its first escape.
    textEnd = start
    bs = -1
    for (; textEnd < end; textEnd++) {
      const c = src[textEnd]!
      if (c === NL) break
      if (c === BSLASH && bs < 0) bs = textEnd
    }
  }
  if (bs >= 0) {
    const raw = unescapeBytes(src, start, textEnd, bs)
    out.raw = raw
    out.text = utf8Text(raw, 0, raw.length)
  } else {
    const t = text ?? utf8Text(src, start, textEnd)
    out.text = t
    // U+FFFD: invalid bytes were replaced (or the sender really wrote U+FFFD); either way
    // re-encoding might not give the bytes back, so keep them.
    out.raw = t.indexOf('\uFFFD') < 0 ? null : copyBytes(src, start, textEnd)
  }
  out.dict = textEnd + 1 < end ? parseDict(src, textEnd + 1, end) : NO_DICT
  return out
}

/**
 * Kernel timestamp of a legacy console line, from its `[    5.123456] ` prefix (printk.time=1),
 * in µs; null when the datagram does not start with one (continuation chunks, printk.time=0).
 */
export function legacyTsUsec (src: Uint8Array, len: number = src.length): number | null {
  if (len < 4 || src[0] !== 0x5b /* [ */) return null
  let i = 1
  while (i < len && src[i] === SPACE) i++
  let sec = 0
  let n = 0
  while (i < len && src[i]! >= 0x30 && src[i]! <= 0x39 && n < 15) { sec = sec * 10 + src[i]! - 0x30; i++; n++ }
  if (n === 0 || src[i] !== 0x2e /* . */) return null
  i++
  let frac = 0
  let fd = 0
  while (i < len && src[i]! >= 0x30 && src[i]! <= 0x39 && fd < 9) { frac = frac * 10 + src[i]! - 0x30; i++; fd++ }
  if (fd === 0 || src[i] !== 0x5d /* ] */) return null
  // The kernel prints 6 fractional digits; scale anything else to µs.
  let usec = frac
  for (let k = fd; k < 6; k++) usec *= 10
  for (let k = fd; k > 6; k--) usec = Math.floor(usec / 10)
  return sec * 1e6 + usec
}
