/**
 * Where each value of a JSON5 document sits, so config errors can say `file:line:col`.
 *
 * json5.parse() returns values without positions. This scanner walks the same text (already known
 * to parse) and records the position of every value and every object key by JSON pointer. It is
 * lenient on purpose: it only has to find structure, never to reject input.
 */

export interface Position { line: number, column: number }

export interface Locations {
  /** Position of the value at a JSON pointer (`/rules/0/to/1`). */
  value: Map<string, Position>
  /** Position of an object key, by the pointer of its value. */
  key: Map<string, Position>
}

export function escapePointer (seg: string | number): string {
  return String(seg).replace(/~/g, '~0').replace(/\//g, '~1')
}

export function locate (text: string): Locations {
  const value = new Map<string, Position>()
  const key = new Map<string, Position>()
  let i = 0
  let line = 1
  let lineStart = 0
  const pos = (): Position => ({ line, column: i - lineStart + 1 })
  const advance = (): void => {
    const c = text.charCodeAt(i++)
    if (c === 10) { line++; lineStart = i } else if (c === 13 && text.charCodeAt(i) !== 10) { line++; lineStart = i }
  }
  const skipWs = (): void => {
    while (i < text.length) {
      const c = text[i]!
      if (c === '/' && text[i + 1] === '/') { while (i < text.length && text[i] !== '\n') advance() } else if (c === '/' && text[i + 1] === '*') {
        advance(); advance()
        while (i < text.length && !(text[i] === '*' && text[i + 1] === '/')) advance()
        advance(); advance()
      } else if (/\s|\uFEFF/.test(c)) advance()
      else break
    }
  }
  const readString = (): string => {
    const q = text[i]
    advance()
    let s = ''
    while (i < text.length && text[i] !== q) {
      if (text[i] === '\\') { advance(); s += text[i] ?? ''; advance(); continue }
      s += text[i]
      advance()
    }
    advance()
    return s
  }
  const readKey = (): string => {
    if (text[i] === '"' || text[i] === '\'') return readString()
    let s = ''
    while (i < text.length && !/[\s:/]/.test(text[i]!)) { s += text[i]; advance() }
    return s
  }
  const readValue = (ptr: string, depth: number): void => {
    skipWs()
    value.set(ptr, pos())
    const c = text[i]
    if (depth > 200) return
    if (c === '{') {
      advance()
      for (;;) {
        skipWs()
        if (i >= text.length) return
        if (text[i] === '}') { advance(); return }
        const kp = pos()
        const k = readKey()
        const child = `${ptr}/${escapePointer(k)}`
        key.set(child, kp)
        skipWs()
        if (text[i] === ':') advance()
        readValue(child, depth + 1)
        skipWs()
        if (text[i] === ',') advance()
      }
    } else if (c === '[') {
      advance()
      for (let n = 0; ; n++) {
        skipWs()
        if (i >= text.length) return
        if (text[i] === ']') { advance(); return }
        readValue(`${ptr}/${n}`, depth + 1)
        skipWs()
        if (text[i] === ',') advance()
      }
    } else if (c === '"' || c === '\'') {
      readString()
    } else {
      while (i < text.length && !/[\s,\]}]/.test(text[i]!) && !(text[i] === '/' && (text[i + 1] === '/' || text[i + 1] === '*'))) advance()
    }
  }
  readValue('', 0)
  return { value, key }
}

/** `/rules/0/match/text` → `rules[0].match.text` (what users see in messages). */
export function pointerToPath (ptr: string): string {
  if (ptr === '') return '(top level)'
  let out = ''
  for (const raw of ptr.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (/^\d+$/.test(seg)) out += `[${seg}]`
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`
    else out += `[${JSON.stringify(seg)}]`
  }
  return out
}
