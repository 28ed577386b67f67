import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { escapeParamValue, formatRfc5424, sdName, structuredData, type Rfc5424Options } from '../../../src/sinks/syslog/rfc5424.js'
import { makeTestRecord } from '../conformance.js'

const base: Rfc5424Options = {
  appName: 'kernel',
  hostname: 'name',
  facility: null,
  legacySeverity: 5,
  enterpriseId: 32473,
  includeDict: true,
  includeLabels: true,
  multiline: 'keep',
  utf8Bom: false,
  maxMessageBytes: 8192
}

interface Parsed {
  pri: number
  version: string
  timestamp: string
  hostname: string
  appName: string
  procId: string
  msgId: string
  sd: Array<{ id: string, params: Array<[string, string]> }> | null
  msg: Buffer | null
}

/** An independent RFC 5424 §6 parser, strict about what the formatter must produce. */
function parse5424 (buf: Buffer): Parsed {
  const s = buf.toString('latin1') // byte-exact positions; re-decode the parts as UTF-8
  const m = /^<(\d{1,3})>(1) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(s)
  assert.ok(m !== null, `header: ${s.slice(0, 120)}`)
  for (const f of m.slice(3, 8)) assert.match(f, /^[\x21-\x7e]+$/, 'header fields are PRINTUSASCII')
  let i = m[0].length
  let sd: Parsed['sd'] = null
  if (s[i] === '-') {
    i++
  } else {
    sd = []
    while (s[i] === '[') {
      i++
      const idm = /^[^ =\]"]{1,32}/.exec(s.slice(i))
      assert.ok(idm !== null, 'SD-ID')
      i += idm[0].length
      const params: Array<[string, string]> = []
      while (s[i] === ' ') {
        i++
        const nm = /^([^ =\]"]{1,32})="/.exec(s.slice(i))
        assert.ok(nm !== null, `PARAM-NAME at ${s.slice(i, i + 40)}`)
        i += nm[0].length
        const bytes: number[] = []
        for (;;) {
          const c = s.charCodeAt(i)
          assert.ok(!Number.isNaN(c), 'unterminated PARAM-VALUE')
          if (c === 0x5c) { // backslash
            const n = s.charCodeAt(i + 1)
            if (n === 0x22 || n === 0x5c || n === 0x5d) { bytes.push(n); i += 2; continue }
            bytes.push(c); i++; continue
          }
          assert.notEqual(c, 0x5d, '] must be escaped inside PARAM-VALUE')
          if (c === 0x22) { i++; break }
          bytes.push(c); i++
        }
        params.push([nm[1]!, Buffer.from(bytes).toString('utf8')])
      }
      assert.equal(s[i], ']', 'SD-ELEMENT ends with ]')
      i++
      sd.push({ id: idm[0], params })
    }
    assert.ok(sd.length > 0)
  }
  let msg: Buffer | null = null
  if (i < s.length) {
    assert.equal(s[i], ' ', 'SP before MSG')
    msg = buf.subarray(i + 1)
  }
  return { pri: Number(m[1]), version: m[2]!, timestamp: m[3]!, hostname: m[4]!, appName: m[5]!, procId: m[6]!, msgId: m[7]!, sd, msg }
}

function isValidUtf8 (b: Buffer): boolean {
  try { new TextDecoder('utf-8', { fatal: true }).decode(b); return true } catch { return false }
}

describe('RFC 5424 formatter', () => {
  it('formats an extended record: PRI, timestamp, host, app, NILVALUE procid/msgid, SD, MSG', () => {
    const rec = makeTestRecord({ seq: 42, tsUsec: 5_000_123, level: 3, facility: 0, text: 'eth0: link down\n', release: '6.12.0' })
    const out = formatRfc5424(rec, base)
    assert.equal(out.bytes.toString(),
      '<3>1 2023-11-14T22:13:20.000Z web-1 kernel - - ' +
      '[netconsd@32473 src="192.0.2.10" seq="42" tsUsec="5000123" level="3" facility="0" format="extended" release="6.12.0"]' +
      '[netconsdLabels@32473 rack="r1"] eth0: link down')
    assert.equal(out.truncated, false)
  })

  it('PRI combines facility and severity; a fixed facility overrides the record', () => {
    const rec = makeTestRecord({ facility: 0, level: 6 })
    assert.equal(parse5424(formatRfc5424(rec, base).bytes).pri, 6)
    assert.equal(parse5424(formatRfc5424(rec, { ...base, facility: 16 }).bytes).pri, 16 * 8 + 6)
    assert.equal(parse5424(formatRfc5424(makeTestRecord({ facility: 1, level: 0 }), base).bytes).pri, 8)
    // Out-of-range facility from a /dev/kmsg writer: sent as user, PRIVAL stays <= 191.
    assert.equal(parse5424(formatRfc5424(makeTestRecord({ facility: 99, level: 7 }), base).bytes).pri, 15)
  })

  it('legacy records: the configured severity, no seq/tsUsec/level in SD', () => {
    const rec = makeTestRecord({ format: 'legacy', seq: null, tsUsec: null, level: null, text: '[   1.000000] hello\n' })
    const p = parse5424(formatRfc5424(rec, { ...base, legacySeverity: 6 }).bytes)
    assert.equal(p.pri, 6)
    const core = p.sd![0]!
    assert.equal(core.id, 'netconsd@32473')
    assert.deepEqual(core.params.map(([k]) => k), ['src', 'facility', 'format'])
    assert.equal(p.msg!.toString(), '[   1.000000] hello')
  })

  it('flags appear as SD params only when set', () => {
    const rec = makeTestRecord({ contStart: true, cont: true, oos: true, seqReset: true, incomplete: true, lostBefore: 7 })
    const params = Object.fromEntries(parse5424(formatRfc5424(rec, base).bytes).sd![0]!.params)
    assert.equal(params.contStart, '1')
    assert.equal(params.cont, '1')
    assert.equal(params.oos, '1')
    assert.equal(params.seqReset, '1')
    assert.equal(params.incomplete, '1')
    assert.equal(params.lostBefore, '7')
    const plain = Object.fromEntries(parse5424(formatRfc5424(makeTestRecord(), base).bytes).sd![0]!.params)
    for (const k of ['contStart', 'cont', 'oos', 'seqReset', 'incomplete', 'lostBefore']) assert.equal(plain[k], undefined)
  })

  it('escapes ", \\ and ] in PARAM-VALUE (RFC 5424 §6.3.3) and round-trips', () => {
    assert.equal(escapeParamValue('a"b\\c]d'), 'a\\"b\\\\c\\]d')
    const rec = makeTestRecord({ dict: [['DEVICE', '+pci:0000:00:1f.6 "x" \\ ]'], ['DEVICE', 'second']] })
    const p = parse5424(formatRfc5424(rec, base).bytes)
    const dict = p.sd!.find((e) => e.id === 'netconsdDict@32473')!
    assert.deepEqual(dict.params, [['DEVICE', '+pci:0000:00:1f.6 "x" \\ ]'], ['DEVICE', 'second']])
  })

  it('SD names: = SP ] " and non-ASCII replaced, cut at 32', () => {
    assert.equal(sdName('a=b c]d"e'), 'a_b_c_d_e')
    assert.equal(sdName('ключ'), '____')
    assert.equal(sdName('x'.repeat(40)), 'x'.repeat(32))
    assert.equal(sdName(''), '_')
  })

  it('NILVALUE: empty app name, unknown timestamp; no SP MSG for empty text', () => {
    const out = formatRfc5424(makeTestRecord({ text: '', receivedAt: Number.NaN, host: { name: '', address: '::1', labels: {} } }), { ...base, appName: '' })
    const s = out.bytes.toString()
    assert.match(s, /^<6>1 - ::1 - - - \[netconsd@32473 /)
    assert.ok(s.endsWith(']'), 'no trailing SP when MSG is empty')
    assert.equal(parse5424(out.bytes).msg, null)
  })

  it('header fields: spaces and non-ASCII replaced, lengths capped (HOSTNAME 255, APP-NAME 48)', () => {
    const rec = makeTestRecord({ host: { name: 'höst name.' + 'a'.repeat(300), address: '::1', labels: {} } })
    const p = parse5424(formatRfc5424(rec, { ...base, appName: 'my app ' + 'b'.repeat(60) }).bytes)
    assert.equal(p.hostname.length, 255)
    assert.ok(p.hostname.startsWith('h_st_name.'))
    assert.equal(p.appName.length, 48)
    assert.ok(p.appName.startsWith('my_app_'))
  })

  it('hostname: address mode and IPv4-mapped addresses shown as IPv4', () => {
    const rec = makeTestRecord({ host: { name: 'web-1', address: '::ffff:10.1.2.3', labels: {} } })
    assert.equal(parse5424(formatRfc5424(rec, { ...base, hostname: 'address' }).bytes).hostname, '10.1.2.3')
    const noName = makeTestRecord({ host: { name: '::ffff:10.1.2.3', address: '::ffff:10.1.2.3', labels: {} } })
    assert.equal(parse5424(formatRfc5424(noName, base).bytes).hostname, '10.1.2.3')
    const v6 = makeTestRecord({ host: { name: '2001:db8::1', address: '2001:db8::1', labels: {} } })
    assert.equal(parse5424(formatRfc5424(v6, base).bytes).hostname, '2001:db8::1')
  })

  it('multi-line text: kept with "keep", #012 with "escape"', () => {
    const rec = makeTestRecord({ text: 'line one\nline two\r\n\x1b[31mred\tTab\n' })
    assert.equal(parse5424(formatRfc5424(rec, base).bytes).msg!.toString(), 'line one\nline two\r\n\x1b[31mred\tTab')
    assert.equal(parse5424(formatRfc5424(rec, { ...base, multiline: 'escape' }).bytes).msg!.toString(), 'line one#012line two#015#012#033[31mred\tTab')
  })

  it('SD values never carry raw control characters', () => {
    const rec = makeTestRecord({ dict: [['K', 'a\nb']] })
    const s = formatRfc5424(rec, base).bytes.toString()
    assert.ok(s.includes('K="a#012b"'))
  })

  it('incident and event records: MSGID and their own SD elements', () => {
    const inc = makeTestRecord({
      kind: 'incident',
      level: 0,
      text: 'BUG: kernel NULL pointer dereference\nCall Trace:\n foo+0x1/0x2',
      incident: { type: 'oops', title: 'BUG: kernel NULL pointer dereference', signature: 'oops:foo', function: 'foo', frames: ['foo'] }
    })
    const p = parse5424(formatRfc5424(inc, base).bytes)
    assert.equal(p.msgId, 'incident')
    const ie = p.sd!.find((e) => e.id === 'netconsdIncident@32473')!
    assert.deepEqual(Object.fromEntries(ie.params), { type: 'oops', signature: 'oops:foo', function: 'foo', title: 'BUG: kernel NULL pointer dereference' })
    assert.equal(p.msg!.toString(), inc.text)
    const ev = makeTestRecord({ kind: 'event', text: 'host rebooted', event: { type: 'reboot', previousSeq: 10, nested: { a: 1 } } })
    const pe = parse5424(formatRfc5424(ev, base).bytes)
    assert.equal(pe.msgId, 'event')
    assert.deepEqual(pe.sd!.find((e) => e.id === 'netconsdEvent@32473')!.params, [['type', 'reboot'], ['previousSeq', '10']])
  })

  it('attributes, labels and dict elements; includeDict/includeLabels turn them off', () => {
    const rec = makeTestRecord({ attributes: { team: 'storage' }, dict: [['SUBSYSTEM', 'pci']] })
    assert.deepEqual(structuredData(rec, base).map((e) => e.slice(0, e.indexOf(' '))),
      ['[netconsd@32473', '[netconsdAttrs@32473', '[netconsdLabels@32473', '[netconsdDict@32473'])
    assert.deepEqual(structuredData(rec, { ...base, includeDict: false, includeLabels: false }).map((e) => e.slice(0, e.indexOf(' '))),
      ['[netconsd@32473', '[netconsdAttrs@32473'])
    assert.ok(structuredData(rec, { ...base, enterpriseId: 12345 })[0]!.startsWith('[netconsd@12345 '))
  })

  it('UTF-8 BOM before MSG only when asked (RFC 5424 §6.4)', () => {
    const rec = makeTestRecord({ text: 'héllo' })
    assert.equal(parse5424(formatRfc5424(rec, base).bytes).msg!.toString('hex'), Buffer.from('héllo').toString('hex'))
    assert.equal(parse5424(formatRfc5424(rec, { ...base, utf8Bom: true }).bytes).msg!.toString('hex'), 'efbbbf' + Buffer.from('héllo').toString('hex'))
  })

  it('cuts MSG at a UTF-8 boundary to fit maxMessageBytes, and says so', () => {
    const rec = makeTestRecord({ text: '€'.repeat(1000) })
    const out = formatRfc5424(rec, { ...base, maxMessageBytes: 480 })
    assert.ok(out.bytes.length <= 480)
    assert.ok(out.bytes.length >= 478, 'uses the room it has')
    assert.equal(out.truncated, true)
    assert.ok(isValidUtf8(parse5424(out.bytes).msg!))
  })

  it('drops optional SD elements (dict first) before the core one when they do not fit', () => {
    const rec = makeTestRecord({ text: 'm', dict: [['BIG', 'x'.repeat(600)]] })
    const out = formatRfc5424(rec, { ...base, maxMessageBytes: 480 })
    const p = parse5424(out.bytes)
    assert.deepEqual(p.sd!.map((e) => e.id), ['netconsd@32473', 'netconsdLabels@32473'])
    assert.equal(out.sdElementsDropped, 1)
    assert.equal(p.msg!.toString(), 'm')
    assert.ok(out.bytes.length <= 480)
  })

  it('property: any text, dict and host give a parseable message within the limit, SD round-trips', () => {
    const str = fc.string({ unit: 'binary', maxLength: 300 })
    fc.assert(fc.property(
      str, fc.array(fc.tuple(str, str), { maxLength: 5 }), str, fc.integer({ min: 480, max: 4096 }), fc.constantFrom<'keep' | 'escape'>('keep', 'escape'),
      (text, dict, hostName, max, multiline) => {
        // Decoded kernel text never holds lone surrogates (invalid bytes become U+FFFD).
        const clean = (s: string): string => Buffer.from(s).toString('utf8')
        const d = dict.map(([k, v]): [string, string] => [clean(k), clean(v)])
        const rec = makeTestRecord({ text: clean(text), dict: d, host: { name: clean(hostName), address: '::1', labels: {} } })
        const out = formatRfc5424(rec, { ...base, maxMessageBytes: max, multiline })
        assert.ok(out.bytes.length <= max, `${out.bytes.length} <= ${max}`)
        assert.ok(isValidUtf8(out.bytes))
        const p = parse5424(out.bytes)
        const dictEl = p.sd!.find((e) => e.id === 'netconsdDict@32473')
        if (dictEl !== undefined) {
          // Values round-trip exactly unless they held control characters (escaped as #ooo).
          dictEl.params.forEach(([, v], i) => {
            const orig = d[i]![1]
            if (!/[\x00-\x1f\x7f]/.test(orig)) assert.equal(v, orig)
          })
        }
        if (multiline === 'escape' && p.msg !== null) assert.ok(!/[\n\r\0]/.test(p.msg.toString()))
      }), { numRuns: 300 })
  })
})
