/**
 * From real UDP packets through the worker threads to the real peers of the other two sinks: a
 * real rsyslogd over TCP (octet counting, RFC 5424) and per-host files on disk.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Daemon } from '../../src/daemon.js'
import { loadConfig } from '../../src/config/load.js'
import { extendedRecord } from '../../src/blaster/messages.js'
import { sendDatagrams } from '../helpers/daemon.js'
import { startRsyslog, completeLines } from '../helpers/rsyslog.js'

test('UDP → daemon → rsyslog over TCP and per-host files', async (t) => {
  const rs = await startRsyslog({ tcp: true })
  if (rs === null) { t.skip('rsyslogd not installed (apt-get install rsyslog)'); return }
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-files-'))
  const config = await loadConfig({
    env: process.env,
    source: {
      name: '<syslog/file test>',
      dir,
      value: {
        version: 1,
        listen: { port: 0 },
        hosts: { inventory: { '127.0.4.1': { name: 'db-07' }, '127.0.4.2': { name: 'db-08' } } },
        sinks: {
          syslog: { type: 'syslog', host: '127.0.0.1', port: rs.tcpPort, protocol: 'tcp', flushIntervalMs: 20 },
          files: { type: 'file', path: join(dir, '{host}.log'), format: 'json' }
        },
        rules: [{ id: 'logs', match: { kind: 'log' }, to: ['syslog', 'files'] }]
      }
    }
  })
  const daemon = new Daemon({ config, logger: pino({ level: 'silent' }), receivePath: 'js' })
  await daemon.start()
  try {
    const texts = ['EXT4-fs (vda1): mounted filesystem', 'line with "quotes" and ] bracket', 'caf\u00e9 \\ backslash']
    await sendDatagrams(daemon.port, texts.map((text, i) => extendedRecord({ seq: i + 1, tsUsec: 1000 * i, level: 3, text })), { from: '127.0.4.1' })
    await sendDatagrams(daemon.port, [extendedRecord({ seq: 9, tsUsec: 5, level: 6, facility: 1, text: 'from the other host' })], { from: '127.0.4.2' })
    const msgs = await rs.waitFor(4, 10_000)
    await daemon.stop()

    const mine = msgs.filter((m) => m.hostname === 'db-07')
    assert.deepEqual(mine.map((m) => m.msg), texts, 'rsyslog parsed each message text intact, in order')
    assert.ok(mine.every((m) => m.appname === 'kernel' && m.severity === 3 && m.facility === 0 && m.version === '1'))
    assert.match(mine[0]!.sd, /seq="1"/, 'structured data carries the sequence number')
    const other = msgs.find((m) => m.hostname === 'db-08')!
    assert.equal(other.facility, 1)
    assert.equal(other.severity, 6)

    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.log')).sort(), ['db-07.log', 'db-08.log'])
    const lines = completeLines(readFileSync(join(dir, 'db-07.log'), 'utf8')).map((l) => JSON.parse(l) as { seq: number, text: string })
    assert.deepEqual(lines.map((l) => [l.seq, l.text]), texts.map((x, i) => [i + 1, x]))
  } finally {
    await daemon.stop()
    await rs.stop()
  }
})
