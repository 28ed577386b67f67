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

  it('counts a truncation once even when the batch is retried', () => {
    const enc = new SyslogEncoder(resolveSyslogOptions({ host: 'h', maxMessageBytes: 480 }, 's', '/'))
    const r = makeTestRecord({ text: 'y'.repeat(1000) })
    enc.message(r); enc.message(r)
    assert.equal(enc.truncated, 1)
  })
})
