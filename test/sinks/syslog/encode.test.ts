import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { SyslogEncoder } from '../../../src/sinks/syslog/encode.js'
import { resolveSyslogOptions } from '../../../src/sinks/syslog/options.js'
import { makeTestRecord } from '../conformance.js'

describe('syslog framing', () => {
  it('octet counting: MSG-LEN counts the bytes of SYSLOG-MSG without the SP (RFC 6587 §3.4.1)', () => {
    const enc = new SyslogEncoder(resolveSyslogOptions({ host: 'h', protocol: 'tcp' }, 's', '/'))
    const rec = makeTestRecord({ text: 'ü\nzwei' })
    const framed = enc.frame(rec)
    const msg = enc.message(rec)
    const sp = framed.indexOf(0x20)
    assert.equal(Number(framed.subarray(0, sp).toString()), msg.length)
    assert.ok(framed.subarray(sp + 1).equals(msg))
    assert.ok(msg.includes('ü\nzwei'), 'newline kept with octet counting')
  })

  it('LF framing: message + LF, newlines inside escaped', () => {
    const enc = new SyslogEncoder(resolveSyslogOptions({ host: 'h', protocol: 'tcp', framing: 'lf' }, 's', '/'))
    const framed = enc.frame(makeTestRecord({ text: 'a\nb' }))
    assert.equal(framed.indexOf(0x0a), framed.length - 1)
    assert.ok(framed.toString().endsWith('a#012b\n'))
  })

  it('UDP: the message alone; a batch is the frames back to back', () => {
    const enc = new SyslogEncoder(resolveSyslogOptions({ host: 'h' }, 's', '/'))
    const r = makeTestRecord({ text: 'x' })
    assert.ok(enc.frame(r).equals(enc.message(r)))
    const tcp = new SyslogEncoder(resolveSyslogOptions({ host: 'h', protocol: 'tcp' }, 's', '/'))
    const a = makeTestRecord(); const b = makeTestRecord()
    assert.ok(tcp.frameBatch([a, b]).equals(Buffer.concat([tcp.frame(a), tcp.frame(b)])))
  })

  it('octet counting in a batch: MSG-LENs of 2, 3, 4 and 5 digits in any order, each message whole after its own length', () => {
    const enc = new SyslogEncoder(resolveSyslogOptions({ host: 'h', protocol: 'tcp', maxMessageBytes: 65535 }, 's', '/'))
    // Text lengths chosen so the MSG-LEN grows and shrinks by one or more digits between neighbours.
    const sizes = [1, 2000, 1, 300, 30000, 5, 5, 900, 12000, 1, 99]
    const recs = sizes.map((n, i) => makeTestRecord({ seq: i, text: 'm'.repeat(n) }))
    const msgs = recs.map((r) => enc.message(r))
    assert.ok(new Set(msgs.map((m) => String(m.length).length)).size >= 3, 'several MSG-LEN widths')
    const view = enc.frameBatchView(recs)
    assert.ok(view.equals(Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from(`${m.length} `), m])))))
    // The copying variant gives the same bytes, and they stay put when the encoder is used again.
    const copy = enc.frameBatch(recs)
    assert.ok(copy.equals(view))
    const kept = Buffer.from(copy)
    enc.frameBatch([makeTestRecord({ text: 'other' })])
    assert.ok(copy.equals(kept))
  })

  it('counts a truncation once even when the batch is retried', () => {
    const enc = new SyslogEncoder(resolveSyslogOptions({ host: 'h', maxMessageBytes: 480 }, 's', '/'))
    const r = makeTestRecord({ text: 'y'.repeat(1000) })
    enc.message(r); enc.message(r)
    assert.equal(enc.truncated, 1)
  })
})
