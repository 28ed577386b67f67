/**
 * A C module written against netconsd's documented contract alone (a printer like netconsd's
 * bundled printer.so) and our JS printer module print the same bytes for real-kernel captures:
 * each runs in the real CLI (`netconsd -u PORT MODULE`), the capture's datagrams are sent from
 * one socket, and the two outputs are compared byte for byte.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import dgram from 'node:dgram'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cmodSkipReason, compileModule } from '../helpers/cmod.js'
import { fixturePayloads, sendDatagrams } from '../helpers/daemon.js'
import { cliPath, distDir } from '../helpers/paths.js'

const skip = cmodSkipReason()

async function freePort (): Promise<number> {
  const s = dgram.createSocket('udp6')
  s.bind(0, '::')
  await once(s, 'listening')
  const p = s.address().port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return p
}

/** Runs the CLI with one module, sends the capture, stops it gracefully; returns its stdout. */
async function printed (module: string, payloads: Buffer[]): Promise<{ out: string, datagrams: number }> {
  const port = await freePort()
  // No sinks besides the module; the capture is sent faster than the default per-source rate limit allows.
  const config = join(mkdtempSync(join(tmpdir(), 'netconsd-printer-')), 'config.json5')
  writeFileSync(config, JSON.stringify({ version: 1, sinks: {}, rules: [], admission: { rateLimit: { enabled: false } } }))
  const child = spawn(process.execPath, [cliPath, '-c', config, '-u', String(port), '-w', '2', '--log-format', 'json', module], { stdio: ['ignore', 'pipe', 'pipe'] })
  const out: Buffer[] = []
  let err = ''
  child.stdout.on('data', (b: Buffer) => out.push(b))
  child.stderr.on('data', (b: Buffer) => { err += b.toString() })
  const deadline = Date.now() + 15_000
  while (!/listening|Listening/.test(err)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`daemon did not start: ${err}`)
    await sleep(50)
  }
  await sendDatagrams(port, payloads, { from: '127.0.0.1', burst: 20 })
  await sleep(800) // ncrx's hold timeouts pass; SIGTERM then delivers whatever is still held
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit') as [number | null]
  assert.equal(code, 0, err)
  const got = /"msg":"Total datagrams processed by workers: (\d+)/.exec(err)
  assert.ok(got !== null, `the daemon logs what it processed: ${err.slice(-400)}`)
  return { out: Buffer.concat(out).toString('latin1'), datagrams: Number(got[1]) }
}

/**
 * `printed`, again while the kernel dropped part of the run (fewer datagrams processed than sent:
 * loopback UDP on a loaded machine); what is compared is always a whole run.
 */
async function printedWhole (module: string, payloads: Buffer[]): Promise<string> {
  let r = await printed(module, payloads)
  for (let attempt = 1; attempt < 4 && r.datagrams < payloads.length; attempt++) r = await printed(module, payloads)
  assert.equal(r.datagrams, payloads.length, 'every datagram of the capture reached the daemon in one of 4 runs')
  return r.out
}

const captures = ['6.12-ext-basic', '6.1-ext-oops', '6.12-ext-release-cmdline', '6.12-legacy-basic', '6.12-legacy-configfs-userdata', '6.1-ext-panic']

describe('C printer-like module vs the JS printer module on real-kernel captures', { skip: skip ?? false }, () => {
  for (const name of captures) {
    test(name, async () => {
      const payloads = fixturePayloads(name)
      const so = compileModule('printer-like')
      // One after the other, paced: a loaded machine must not make the kernel drop part of one run.
      const c = await printedWhole(so, payloads)
      const js = await printedWhole(join(distDir, 'src', 'modules', 'printer.js'), payloads)
      // printer.so's hooks: init prints without a newline, exit with one.
      assert.ok(c.startsWith('From init hook: 2 worker threads'), c.slice(0, 80))
      assert.ok(c.endsWith('From exit hook\n'), c.slice(-80))
      const cLines = c.slice('From init hook: 2 worker threads'.length, -'From exit hook\n'.length)
      assert.ok(cLines.length > 1000, `${name}: printed ${cLines.length} bytes`)
      if (cLines !== js) {
        const a = cLines.split('\n')
        const b = js.split('\n')
        const i = a.findIndex((l, k) => l !== b[k])
        assert.fail(`${name}: first difference at line ${i}:\n  C:  ${JSON.stringify(a[i])}\n  JS: ${JSON.stringify(b[i])}`)
      }
    })
  }
})
