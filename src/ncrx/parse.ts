/**
 * Per-datagram classification and extended-header parse, straight from the bytes.
 *
 * Wire grammar (kernel `Documentation/networking/netconsole.rst`, "Extended console", and
 * `Documentation/ABI/testing/dev-kmsg`):
 *
 *   [<release>,]<prio>,<seq>,<ts_usec>,<flag>[,caller=<T|C><id>][,<more>...][,ncfrag=<off>/<total>];<body>
 *
 * Classification rule (every datagram is exactly one of these):
 *
 * 1. **malformed `empty`**: a zero-length datagram.
 * 2. **legacy**: the datagram does not look like an extended header at all. That is the case when
 *    - no `;` occurs within the first {@link MAX_HEADER_BYTES} bytes, or a byte outside the printable,
 *      non-space ASCII range (0x21..0x7e) comes before the first `;` (console text `[    5.123] x`
 *      has a space at byte 1; the kernel never puts spaces or control bytes in a header), or
 *    - after the optional release field, the first two comma-separated fields (`prio`, `seq`) do not
 *      both start with a decimal digit (`12;foo`, `;x`, `abc,def;x`, `6,abc;x`).
 *    A headerless 1000-byte continuation chunk of a long legacy line is legacy by this rule unless its
 *    first bytes happen to read like `6,12...;`, which no rule can tell apart (netconsd has the same
 *    ambiguity).
 * 3. **extended**: it looks like a header and every field is valid.
 * 4. **malformed** (with a reason): it looks like a header but a field is invalid. Such datagrams are
 *    counted by reason and skipped: forwarding them as text would hand a half-parsed header downstream.
 *
 * Field rules (deliberately stricter than netconsd's C `strtoul`, which also takes `0x1e`, octal
 * `0101`, `+6` and ` 7`; the kernel only ever prints plain decimal):
 * - Release: the first field is a kernel release (netconsole `r` flag, e.g.
 *   `6.12.95+deb12-cloud-amd64,6,363,...`) when it contains a `.`; detection only looks inside the
 *   header, never past the `;` (netconsd scans a fixed 64 bytes and may read stale stack data).
 * - Numbers are plain decimal, no sign, no leading zero (`0` itself is fine); values above
 *   2^53 − 1 (`Number.MAX_SAFE_INTEGER`) are rejected as `bad_number`: seq and ts_usec are u64 in the
 *   kernel but a printk seq would need ~10^15 records to get there.
 * - `prio` = facility × 8 + level, accepted up to 2047: the kernel stores the facility as a u8
 *   (`LOG_FACILITY(v) = v >> 3 & 0xff` in printk.c), so a `/dev/kmsg` write of `<1000>` really does
 *   arrive as prio 1000 (facility 125, level 0; see the 6.1 fixture). netconsd rejects > 255 and sends
 *   such records down its raw path.
 * - `seq` is required; `ts_usec` and `flag` may be missing or empty (ts then unknown, no flags).
 * - `flag`: only the first character counts: `c` = continuation start, `+` = continuation; anything
 *   else (normally `-`) = neither (as netconsd).
 * - Extra fields: `key=value` or bare tokens, ignored (the dev-kmsg ABI says more may be added),
 *   except `ncfrag=<off>/<total>` and `ncemg=<n>`, which may appear at most once each.
 * - Fragments: `total` ≥ 1 and ≤ the configured max message size, a non-empty body, `off < total`
 *   and `off + bodyLength ≤ total` (CVE-2023-28753 was a missing `off < total` check in libncrx).
 */

/** Longest header (bytes before the first `;`) we look for; netconsd uses the same 1024. */
export const MAX_HEADER_BYTES = 1024

/** Largest priority the kernel can emit: facility is a u8, level 3 bits. */
const MAX_PRIO = 2047

/** Result of {@link parseDatagram}. Plain numbers (not an enum) so the hot path compares small ints. */
export const Kind = { Legacy: 0, Extended: 1, Malformed: 2 } as const
export type Kind = typeof Kind[keyof typeof Kind]

/** Why a datagram was classified malformed. Stable strings: they end up in metrics labels. */
export const MalformedReason = {
  empty: 'empty',
  badNumber: 'bad_number',
  badPriority: 'bad_priority',
  badFragment: 'bad_fragment',
  duplicateKey: 'duplicate_key',
  emptyFragment: 'empty_fragment',
  fragmentBounds: 'fragment_bounds',
  fragmentTooLarge: 'fragment_too_large'
} as const
export type MalformedReason = typeof MalformedReason[keyof typeof MalformedReason]

/** Every malformed reason, for pre-registering counters. */
export const MALFORMED_REASONS: readonly MalformedReason[] = Object.values(MalformedReason)

/**
 * The parse result. One instance is reused for every datagram (no allocation on the hot path);
 * the fields are only meaningful when {@link parseDatagram} returned `Kind.Extended`
 * (or `reason` for `Kind.Malformed`).
 */
export class ParsedHeader {
  facility = 0
  level = 0
  seq = 0
  /** -1 when the header carries no timestamp. */
  tsUsec = -1
  contStart = false
  cont = false
  /** Byte range of the release field in the datagram; releaseEnd = 0 when absent. */
  releaseStart = 0
  releaseEnd = 0
  /** ncfrag offset and total; fragTotal = -1 when the datagram is not a fragment. */
  fragOff = 0
  fragTotal = -1
  /** `ncemg` was present (userspace nctx emergency flag; the kernel never sends it). */
  emg = false
  /** Start of the body (the byte after the first `;`). */
  bodyStart = 0
  reason: MalformedReason = MalformedReason.empty

  reset (): void {
    this.facility = 0
    this.level = 0
    this.seq = 0
    this.tsUsec = -1
    this.contStart = false
    this.cont = false
    this.releaseStart = 0
    this.releaseEnd = 0
    this.fragOff = 0
    this.fragTotal = -1
    this.emg = false
    this.bodyStart = 0
  }
}

const SEMI = 0x3b
const COMMA = 0x2c
const DOT = 0x2e
const EQ = 0x3d
const SLASH = 0x2f
const D0 = 0x30
const D9 = 0x39

/**
 * Parses a plain decimal in buf[start, end) that must span the whole range.
 * Returns the value, or -1 (not decimal, leading zero, empty, or above 2^53 − 1).
 */
function parseUint (buf: Uint8Array, start: number, end: number): number {
  if (start >= end) return -1
  if (buf[start] === D0 && end - start > 1) return -1
  let v = 0
  for (let i = start; i < end; i++) {
    const c = buf[i]!
    if (c < D0 || c > D9) return -1
    v = v * 10 + (c - D0)
  }
  // 16 digits can exceed 2^53; beyond that the float arithmetic above may have rounded.
  if (end - start > 16 || v > Number.MAX_SAFE_INTEGER) return -1
  return v
}

/** Index of the next `,` or `;` at or after i (the header ends at `semi`). */
function fieldEnd (buf: Uint8Array, i: number, semi: number): number {
  while (i < semi && buf[i] !== COMMA) i++
  return i
}

function isDigit (c: number | undefined): boolean {
  return c !== undefined && c >= D0 && c <= D9
}

/** True when buf[start, end) spells `key` followed by `=`. */
function hasKey (buf: Uint8Array, start: number, end: number, key: string): boolean {
  const n = key.length
  if (end - start <= n || buf[start + n] !== EQ) return false
  for (let k = 0; k < n; k++) if (buf[start + k] !== key.charCodeAt(k)) return false
  return true
}

/** Value of the last field {@link fastField} read. */
let fastValue = 0

/**
 * A plain decimal from buf[i] up to the next comma, by parseUint's rules: returns the comma's
 * index and sets fastValue, or -1 when there is no comma within 17 bytes or the digits are not a
 * valid number (the general parser then decides what the datagram is).
 */
function fastField (buf: Uint8Array, i: number, end: number): number {
  const stop = end < i + 17 ? end : i + 17
  let j = i
  while (j < stop && buf[j] !== COMMA) j++
  if (j >= stop) return -1
  const v = parseUint(buf, i, j)
  if (v < 0) return -1
  fastValue = v
  return j
}

/** Header flag: only its first character counts (`c` continuation start, `+` continuation). */
function setFlag (out: ParsedHeader, f: number | undefined): void {
  if (f === 0x63 /* c */) out.contStart = true
  else if (f === 0x2b /* + */) out.cont = true
}

/**
 * Classifies the datagram buf[start, end) and, for extended ones, fills `out` with positions in
 * `buf` (so a batch of datagrams packed in one buffer is parsed in place, no view per datagram).
 * Never throws. `end` defaults to the whole view; `maxMessageBytes` bounds `ncfrag` totals.
 *
 * The kernel's usual header, `<prio>,<seq>,<ts>,<flag>;` with plain decimals and nothing else, is
 * read in one pass; every other datagram goes through {@link parseDatagramGeneral}, which decides
 * all the corner cases (a property test checks both give the same result on generated headers).
 */
export function parseDatagram (buf: Uint8Array, maxMessageBytes: number, out: ParsedHeader, end: number = buf.length, start = 0): Kind {
  const a = fastField(buf, start, end)
  if (a >= 0 && fastValue <= MAX_PRIO) {
    const prio = fastValue
    const b = fastField(buf, a + 1, end)
    if (b >= 0) {
      const seq = fastValue
      const c = fastField(buf, b + 1, end)
      // One flag character, then the `;`: anything else (no flag, `caller=`, `ncfrag=`) is general.
      const f = c >= 0 && c + 2 < end && buf[c + 2] === SEMI ? buf[c + 1]! : 0
      if (f > 0x20 && f < 0x7f && f !== COMMA && f !== SEMI) {
        out.reset()
        out.facility = prio >> 3
        out.level = prio & 7
        out.seq = seq
        out.tsUsec = fastValue
        setFlag(out, f)
        out.bodyStart = c + 3
        return Kind.Extended
      }
    }
  }
  return parseDatagramGeneral(buf, maxMessageBytes, out, end, start)
}

/** The full classification and header parse (see the file comment); {@link parseDatagram} tries a fast path first. */
export function parseDatagramGeneral (buf: Uint8Array, maxMessageBytes: number, out: ParsedHeader, end: number = buf.length, start = 0): Kind {
  out.reset()
  const len = end - start
  if (len <= 0) { out.reason = MalformedReason.empty; return Kind.Malformed }

  // 1. Find the first `;` among header-ish bytes.
  const limit = start + (len < MAX_HEADER_BYTES ? len : MAX_HEADER_BYTES)
  let semi = -1
  let firstComma = -1
  let dotBeforeComma = false
  for (let i = start; i < limit; i++) {
    const c = buf[i]!
    if (c === SEMI) { semi = i; break }
    if (c <= 0x20 || c >= 0x7f) return Kind.Legacy
    if (firstComma < 0) {
      if (c === COMMA) firstComma = i
      else if (c === DOT) dotBeforeComma = true
    }
  }
  if (semi < 0) return Kind.Legacy

  // 2. Optional release: a first field containing a dot.
  let p = start
  if (dotBeforeComma) {
    if (firstComma < 0) return Kind.Legacy
    out.releaseStart = start
    out.releaseEnd = firstComma
    p = firstComma + 1
  }

  // 3. Does it look like a header? prio and seq fields must both start with a digit.
  const prioEnd = fieldEnd(buf, p, semi)
  if (prioEnd >= semi || !isDigit(buf[p]) || !isDigit(buf[prioEnd + 1])) {
    out.releaseEnd = 0
    return Kind.Legacy
  }

  // From here on every defect is "malformed".
  out.bodyStart = semi + 1
  const prio = parseUint(buf, p, prioEnd)
  if (prio < 0) return malformed(out, MalformedReason.badNumber)
  if (prio > MAX_PRIO) return malformed(out, MalformedReason.badPriority)
  out.facility = prio >> 3
  out.level = prio & 7

  p = prioEnd + 1
  let fend = fieldEnd(buf, p, semi)
  const seq = parseUint(buf, p, fend)
  if (seq < 0) return malformed(out, MalformedReason.badNumber)
  out.seq = seq

  if (fend < semi) {
    // ts_usec (may be empty)
    p = fend + 1
    fend = fieldEnd(buf, p, semi)
    if (fend > p) {
      const ts = parseUint(buf, p, fend)
      if (ts < 0) return malformed(out, MalformedReason.badNumber)
      out.tsUsec = ts
    }
  }
  if (fend < semi) {
    // flag: first character only
    p = fend + 1
    fend = fieldEnd(buf, p, semi)
    if (fend > p) setFlag(out, buf[p])
  }
  let haveFrag = false
  while (fend < semi) {
    p = fend + 1
    fend = fieldEnd(buf, p, semi)
    if (hasKey(buf, p, fend, 'ncfrag')) {
      if (haveFrag) return malformed(out, MalformedReason.duplicateKey)
      haveFrag = true
      const vs = p + 7
      let slash = vs
      while (slash < fend && buf[slash] !== SLASH) slash++
      if (slash >= fend) return malformed(out, MalformedReason.badFragment)
      const off = parseUint(buf, vs, slash)
      const total = parseUint(buf, slash + 1, fend)
      if (off < 0 || total < 1) return malformed(out, MalformedReason.badFragment)
      out.fragOff = off
      out.fragTotal = total
    } else if (hasKey(buf, p, fend, 'ncemg')) {
      if (out.emg) return malformed(out, MalformedReason.duplicateKey)
      if (parseUint(buf, p + 6, fend) < 0) return malformed(out, MalformedReason.badNumber)
      out.emg = true
    }
    // anything else (caller=T123, unknown key=value, bare tokens) is ignored
  }

  if (haveFrag) {
    const bodyLen = end - out.bodyStart
    if (out.fragTotal > maxMessageBytes) return malformed(out, MalformedReason.fragmentTooLarge)
    if (bodyLen === 0) return malformed(out, MalformedReason.emptyFragment)
    if (out.fragOff >= out.fragTotal || out.fragOff + bodyLen > out.fragTotal) return malformed(out, MalformedReason.fragmentBounds)
  }
  return Kind.Extended
}

function malformed (out: ParsedHeader, reason: MalformedReason): Kind {
  out.reason = reason
  return Kind.Malformed
}

/** Test helper: parse into a fresh object (allocates; not for the hot path). */
export function parseOne (buf: Uint8Array, maxMessageBytes = 65536): { kind: 'legacy' | 'extended' | 'malformed', header: ParsedHeader } {
  const h = new ParsedHeader()
  const k = parseDatagram(buf, maxMessageBytes, h)
  return { kind: k === Kind.Extended ? 'extended' : k === Kind.Legacy ? 'legacy' : 'malformed', header: h }
}
