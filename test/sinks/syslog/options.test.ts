import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { resolveSyslogOptions } from '../../../src/sinks/syslog/options.js'
import { repoRoot } from '../../helpers/paths.js'

function code (fn: () => unknown): string | undefined {
  try { fn() } catch (err) { return (err as { code?: string }).code }
  return undefined
}

describe('syslog options', () => {
  it('defaults per protocol and format', () => {
    const udp = resolveSyslogOptions({ host: 'h' }, 's', '/')
    assert.equal(udp.port, 514)
    assert.equal(udp.framing, null)
    assert.equal(udp.multiline, 'escape')
    assert.equal(udp.maxMessageBytes, 2048)
    assert.equal(udp.legacySeverity, 5)
    assert.equal(udp.facility, null)
    const tcp = resolveSyslogOptions({ host: 'h', protocol: 'tcp' }, 's', '/')
    assert.equal(tcp.framing, 'octet-counting')
    assert.equal(tcp.multiline, 'keep')
    assert.equal(tcp.maxMessageBytes, 8096)
    const old = resolveSyslogOptions({ host: 'h', protocol: 'tcp', format: 'rfc3164' }, 's', '/')
    assert.equal(old.framing, 'lf')
    assert.equal(old.maxMessageBytes, 1024)
    assert.equal(resolveSyslogOptions({ host: 'h', facility: 'local3' }, 's', '/').facility, 19)
  })

  it('rejects unusable combinations with NETCONSD_ERR_SINK_OPTIONS', () => {
    assert.equal(code(() => resolveSyslogOptions({ host: 'h', protocol: 'tls', framing: 'lf' }, 's', '/')), 'NETCONSD_ERR_SINK_OPTIONS')
    assert.equal(code(() => resolveSyslogOptions({ host: 'h', protocol: 'tcp', framing: 'lf', multiline: 'keep' }, 's', '/')), 'NETCONSD_ERR_SINK_OPTIONS')
    assert.equal(code(() => resolveSyslogOptions({ host: 'h', tls: {} }, 's', '/')), 'NETCONSD_ERR_SINK_OPTIONS')
    assert.equal(code(() => resolveSyslogOptions({ host: '' }, 's', '/')), 'NETCONSD_ERR_SINK_OPTIONS')
    assert.equal(code(() => resolveSyslogOptions({ host: 'h', maxMessageBytes: 100 }, 's', '/')), 'NETCONSD_ERR_SINK_OPTIONS')
  })

  it('reads TLS files relative to the config dir; a missing one names the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netconsd-syslog-opts-'))
    writeFileSync(join(dir, 'ca.pem'), 'PEM')
    const r = resolveSyslogOptions({ host: 'h', protocol: 'tls', tls: { ca: 'ca.pem' } }, 's', dir)
    assert.equal(r.tls!.ca!.toString(), 'PEM')
    assert.equal(r.port, 6514)
    try {
      resolveSyslogOptions({ host: 'h', protocol: 'tls', tls: { ca: 'missing.pem' } }, 'central', dir)
      assert.fail('should throw')
    } catch (err) {
      const e = err as { code: string, field: string, sink: string }
      assert.equal(e.code, 'NETCONSD_ERR_SINK_OPTIONS')
      assert.equal(e.field, 'tls.ca')
      assert.equal(e.sink, 'central')
    }
    assert.equal(code(() => resolveSyslogOptions({ host: 'h', protocol: 'tls', tls: { cert: 'ca.pem' } }, 's', dir)), 'NETCONSD_ERR_SINK_OPTIONS')
  })

  it('schema: accepts a full example, rejects unknown keys and bad values', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false })
    ajv.addSchema(JSON.parse(readFileSync(join(repoRoot, 'schemas/sinks/delivery.schema.json'), 'utf8')))
    const validate = ajv.compile(JSON.parse(readFileSync(join(repoRoot, 'schemas/sinks/syslog.schema.json'), 'utf8')))
    const good = {
      type: 'syslog', host: 'logs.example.net', port: 6514, protocol: 'tls', facility: 'local0', appName: 'kernel',
      tls: { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' }, maxQueueRecords: 5000, maxMessageBytes: 8192
    }
    assert.equal(validate(good), true, JSON.stringify(validate.errors))
    assert.equal(validate({ ...good, bogus: 1 }), false)
    assert.equal(validate({ ...good, protocol: 'sctp' }), false)
    assert.equal(validate({ ...good, tls: { cert: 'c.pem' } }), false)
    assert.equal(validate({ type: 'syslog' }), false, 'host is required')
  })
})
