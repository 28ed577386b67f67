import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { formatRfc3164, tag, timestamp3164, type Rfc3164Options } from '../../../src/sinks/syslog/rfc3164.js'
import { makeTestRecord } from '../conformance.js'

const base: Rfc3164Options = { appName: 'kernel', hostname: 'name', facility: null, legacySeverity: 5, maxMessageBytes: 1024 }

describe('RFC 3164 formatter', () => {
  it('<PRI>Mmm dd hh:mm:ss HOST TAG: MSG, day space-padded, local time', () => {
    const t = new Date(2024, 0, 5, 7, 8, 9).getTime()
    assert.equal(timestamp3164(t), 'Jan  5 07:08:09')
    assert.equal(timestamp3164(new Date(2024, 11, 25, 23, 0, 0).getTime()), 'Dec 25 23:00:00')
    const out = formatRfc3164(makeTestRecord({ receivedAt: t, level: 4, text: 'hello\n' }), base)
    assert.equal(out.bytes.toString(), '<4>Jan  5 07:08:09 web-1 kernel: hello')
  })

  it('escapes every control character: these receivers end a message at a newline', () => {
    const out = formatRfc3164(makeTestRecord({ text: 'a\nb\0c' }), base)
    assert.ok(out.bytes.toString().endsWith(': a#012b#000c'))
  })

  it('legacy severity, facility override', () => {
    const out = formatRfc3164(makeTestRecord({ level: null, format: 'legacy' }), { ...base, facility: 23, legacySeverity: 6 })
    assert.ok(out.bytes.toString().startsWith(`<${23 * 8 + 6}>`))
  })

  it('TAG: alphanumeric, at most 32', () => {
    assert.equal(tag('kernel'), 'kernel')
    assert.equal(tag('my app:x'), 'my_app_x')
    assert.equal(tag('a'.repeat(40)).length, 32)
  })

  it('limits the whole message to maxMessageBytes at a UTF-8 boundary', () => {
    const out = formatRfc3164(makeTestRecord({ text: 'ü'.repeat(1000) }), base)
    assert.ok(out.bytes.length <= 1024)
    assert.equal(out.truncated, true)
    assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(out.bytes))
  })
})
