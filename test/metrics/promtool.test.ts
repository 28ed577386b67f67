/**
 * The daemon's real /metrics output through Prometheus' own linter, `promtool check metrics`
 * (Debian package prometheus, installed by `.ci/run`): it parses the exposition format the way
 * the Prometheus server does and applies the naming conventions (counters end in `_total`, units
 * as base-unit suffixes, HELP on every family, no reserved label names). A daemon with a busy
 * sink, a rule, admission drops and malformed datagrams, so most families carry samples.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { pino } from 'pino'
import { Daemon } from '../../src/daemon.js'
import { loadConfig } from '../../src/config/load.js'
import { extendedRecord } from '../../src/blaster/messages.js'
import { sendDatagrams, collectModule } from '../helpers/daemon.js'
import { RecordingServer } from '../sinks/delivery/http-server.js'

function promtoolPath (): string | null {
  return spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0 ? 'promtool' : null
}

test('promtool check metrics finds no problem in the daemon\'s /metrics', async (t) => {
  if (promtoolPath() === null) { t.skip('promtool not installed (Debian package prometheus)'); return }
  const peer = await RecordingServer.start()
  const config = await loadConfig({
    env: process.env,
    source: {
      name: '<promtool test>',
      dir: process.cwd(),
      value: {
        version: 1,
        listen: { port: 0 },
        workers: { count: 2 },
        metrics: { listen: '127.0.0.1:0' },
        admission: { deny: ['127.0.6.2'] },
        modules: [collectModule],
        sinks: { o: { type: 'otlp', url: `${peer.url}/v1/logs`, flushIntervalMs: 20 } },
        rules: [{ id: 'kernel-errors', match: { level: '<=err' }, to: ['o'] }, { id: 'rest', to: ['o'] }]
      }
    }
  })
  process.env.COLLECT_OUT = '/dev/null'
  const daemon = new Daemon({ config, logger: pino({ level: 'silent' }), receivePath: 'js', statsIntervalMs: 100 })
  await daemon.start()
  try {
    await sendDatagrams(daemon.port, [
      extendedRecord({ seq: 1, tsUsec: 1, level: 3, text: 'an error' }),
      extendedRecord({ seq: 2, tsUsec: 2, text: 'info' }),
      extendedRecord({ seq: 5, tsUsec: 5, text: 'after a gap' }),
      Buffer.from('6,2x,1,-;bad sequence number\n'),
      Buffer.from('[    1.000000] legacy\n')
    ], { from: '127.0.6.1' })
    await sendDatagrams(daemon.port, [extendedRecord({ seq: 1, tsUsec: 1, text: 'denied' })], { from: '127.0.6.2' })
    const url = `http://127.0.0.1:${daemon.metricsAddress!.port}/metrics`
    let text = ''
    const sent = (): number => Number(/^netconsd_sink_sent_records_total\{[^}]*sink="o"[^}]*\} (\d+)$/m.exec(text)?.[1] ?? 0)
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      text = await (await fetch(url)).text()
      if (sent() >= 4) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.ok(sent() >= 4, 'the sink reported its records (so its families have samples)')
    const families = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)/gm)].map((m) => `${m[2]!}`))
    assert.ok(families.has('counter') && families.has('gauge') && families.has('histogram'), `counters, gauges and histograms present: ${[...families].join(', ')}`)

    // Our own families alone: not one problem, and promtool's exit status says so.
    const own = text.split('\n').filter((l) => /^(# (HELP|TYPE) )?netconsd_/.test(l)).join('\n') + '\n'
    assert.match(own, /^# TYPE netconsd_\w+ histogram$/m, 'a histogram among them')
    const r = spawnSync('promtool', ['check', 'metrics'], { input: own, encoding: 'utf8' })
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'promtool reports nothing for netconsd_* families')
    assert.equal(r.status, 0)

    // The whole page, prom-client's process and Node.js metrics included (its three gauges named
    // *_total are left out by src/metrics/metrics.ts): not one problem either.
    const all = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    assert.equal(`${all.stdout}${all.stderr}`.trim(), '', 'promtool reports nothing for the whole page')
    assert.equal(all.status, 0)
  } finally {
    await daemon.stop()
    await peer.stop()
  }
})
