#!/usr/bin/env node
// Pack smoke test: the package as a user installs it, native addon included, end to end.
//
//   npm pack → npm install of the tarball into an empty directory (--omit=dev; its install script
//   compiles native/*.c from the tarball) → `npx netconsd check-config` on the shipped example config
//   → `npx netconsd` on a free UDP port → real netconsole datagrams over loopback → printed on
//   stdout, counted in /metrics, received by the native path → SIGTERM → exit 0.
//
// test/package/pack.test.ts covers the library entry, the types and the terminal with
// NETCONSD_SKIP_NATIVE=1 (part of `npm test`); this is the native counterpart, run by .ci/run. It
// needs the npm registry (or a warm npm cache) for the dependencies, a C compiler and Node's headers.
// Usage: node scripts/ci/pack-smoke.mjs [--keep]   (--keep: leave the temp directory for a look)
// Exits 1 with the reason on the first failed check.
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createSocket } from 'node:dgram'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const keep = process.argv.includes('--keep')
const fixture = join(root, 'test/fixtures/kernel/6.12-ext-basic/payloads.jsonl')
const captureCount = 30
const marker = 'netconsd pack smoke'

class SmokeFailure extends Error {}
function check (ok, msg) { if (!ok) throw new SmokeFailure(msg) }
function step (msg) { console.log(`pack-smoke: ${msg}`) }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function run (cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...opts })
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error }
}

function tail (text, lines = 40) { return text.trimEnd().split('\n').slice(-lines).join('\n') }

async function main (dir) {
  // 1. The tarball, built as `npm publish` would build it (prepare: tsc).
  const packed = run('npm', ['pack', '--pack-destination', dir], { cwd: root })
  check(packed.status === 0, `npm pack failed:\n${tail(packed.out)}`)
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))
  check(tgz !== undefined, 'npm pack wrote no .tgz')
  step(`packed ${tgz}`)

  // 2. Installed into an empty project, production dependencies only, native build on.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  const env = { ...process.env }
  delete env.NETCONSD_SKIP_NATIVE
  const inst = run('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', '--foreground-scripts', `./${tgz}`], { cwd: dir, env })
  check(inst.status === 0, `npm install of the tarball failed:\n${tail(inst.out)}`)
  const pkgDir = join(dir, 'node_modules', 'netconsd')
  for (const addon of ['netconsd_recv.node', 'netconsd_cmod.node']) {
    check(existsSync(join(pkgDir, 'native', 'build', 'Release', addon)),
      `the install did not build native/build/Release/${addon} from the tarball's sources; install output:\n${tail(inst.out)}`)
  }
  check(!existsSync(join(dir, 'node_modules', 'typescript')), 'a dev dependency (typescript) was installed with --omit=dev')
  step('installed with --omit=dev; native addons compiled from the tarball')

  // 3. The shipped example config, copied as deploy/INSTALL.md step 3 does (rule packs beside it).
  const etc = join(dir, 'etc')
  mkdirSync(join(etc, 'routes'), { recursive: true })
  copyFileSync(join(pkgDir, 'config.example.json5'), join(etc, 'config.json5'))
  for (const f of readdirSync(join(pkgDir, 'routes'))) copyFileSync(join(pkgDir, 'routes', f), join(etc, 'routes', f))
  const checked = run('npx', ['--no-install', 'netconsd', 'check-config', 'etc/config.json5'], { cwd: dir })
  check(checked.status === 0, `npx netconsd check-config etc/config.json5 exited ${checked.status}:\n${tail(checked.out)}`)
  step('check-config on the copied config.example.json5: exit 0')

  // The same config with the metrics endpoint on (port 0: the daemon logs the port it got).
  const example = readFileSync(join(etc, 'config.json5'), 'utf8')
  const smoke = example.replace(/^(\s*)metrics: \{\},/m, "$1metrics: { listen: '127.0.0.1:0' },")
  check(smoke !== example, 'config.example.json5 no longer has the line `metrics: {},` this script turns on')
  writeFileSync(join(etc, 'smoke.json5'), smoke)

  // 4. The daemon, started the way a user starts it. Its own process group, so that a failed run
  // can kill npx and the daemon under it together.
  const child = spawn('npx', ['--no-install', 'netconsd', '-c', 'etc/smoke.json5', '-u', '0', '--log-format', 'json'],
    { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (b) => { out += b.toString() })
  child.stderr.on('data', (b) => { err += b.toString() })
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  let exit = null
  void exited.then((e) => { exit = e })
  // The daemon's JSON log lines so far (a line still being written is left for the next look).
  const logs = () => err.split('\n').slice(0, -1).flatMap((l) => { try { return [JSON.parse(l)] } catch { return [] } })
  const daemonOutput = () => `--- daemon stderr ---\n${tail(err)}\n--- daemon stdout ---\n${tail(out)}`
  try {
    const listening = await waitFor(() => logs().find((l) => l.msg === 'Listening.'), 30_000, () => exit)
    check(listening !== undefined, `the daemon did not log "Listening." within 30 s (exit: ${JSON.stringify(exit)})\n${daemonOutput()}`)
    check(listening.receivePath === 'native', `the daemon receives on the ${listening.receivePath} path, not the native addon\n${daemonOutput()}`)
    const metricsLog = logs().find((l) => l.msg === 'Metrics endpoint listening.')
    check(metricsLog !== undefined, `no "Metrics endpoint listening." log line\n${daemonOutput()}`)
    const udpPort = listening.port
    step(`npx netconsd listening on UDP ${udpPort}, receive path native, metrics on ${metricsLog.listen}`)

    // 5. Real datagrams: the start of a real 6.12 kernel's boot log (extended format) from 127.0.0.1,
    // and three hand-written extended records from a second host, 127.0.0.2.
    const capture = readFileSync(fixture, 'utf8').trim().split('\n').slice(0, captureCount)
      .map((l) => Buffer.from(JSON.parse(l).b64, 'base64'))
    const own = [
      `6,1,1000,-;${marker}: hello\n`,
      `6,2,2000,-;${marker}: world\n`,
      `4,3,3000,-;${marker}: bye\n`
    ].map((s) => Buffer.from(s))
    await send('127.0.0.1', udpPort, capture)
    await send('127.0.0.2', udpPort, own)
    const sent = capture.length + own.length

    // Printed on stdout (printer format: "<src>: S<seq> T<ts> F<fac>/L<level> <text>").
    const expected = [
      ...capture.map((b) => ({ src: '::ffff:127.0.0.1', seq: Number(b.toString('latin1').split(',')[1]) })),
      { src: '::ffff:127.0.0.2', seq: 1, text: `${marker}: hello` },
      { src: '::ffff:127.0.0.2', seq: 2, text: `${marker}: world` },
      { src: '::ffff:127.0.0.2', seq: 3, text: `${marker}: bye` }
    ]
    const printed = (e) => out.split('\n').some((line) => line.trimStart().startsWith(`${e.src}: `) &&
      line.includes(` S${String(e.seq).padStart(6, '0')} `) && (e.text === undefined || line.endsWith(e.text)))
    await waitFor(() => expected.every(printed), 15_000, () => exit)
    const missing = expected.filter((e) => !printed(e))
    check(missing.length === 0, `not printed on stdout: ${missing.map((e) => `${e.src} seq ${e.seq}`).join(', ')}\n${daemonOutput()}`)
    check(out.includes('Linux version 6.12.95'), `the kernel's first boot line is not on stdout\n${daemonOutput()}`)
    step(`${expected.length} records printed on stdout`)

    // Counted in /metrics (worker snapshots arrive periodically: poll).
    const url = `http://${metricsLog.listen}/metrics`
    let metrics = ''
    const received = async () => {
      metrics = await (await fetch(url)).text()
      return sum(metrics, 'netconsd_datagrams_received_total') === sent && sum(metrics, 'netconsd_records_delivered_total') >= expected.length
    }
    await waitFor(received, 15_000, () => exit)
    check(sum(metrics, 'netconsd_datagrams_received_total') === sent,
      `netconsd_datagrams_received_total is ${sum(metrics, 'netconsd_datagrams_received_total')}, ${sent} sent`)
    check(sum(metrics, 'netconsd_records_delivered_total') >= expected.length,
      `netconsd_records_delivered_total is ${sum(metrics, 'netconsd_records_delivered_total')}, ${expected.length} expected`)
    check(sum(metrics, 'netconsd_datagrams_malformed_total') === 0, 'netconsd_datagrams_malformed_total is not 0')
    step(`/metrics: ${sent} datagrams received, ${sum(metrics, 'netconsd_records_delivered_total')} records delivered`)

    // 6. SIGTERM to the daemon, as `kill PID` or systemd's stop sends it. npx (npm exec → sh →
    // node) does not pass a signal on, but exits with the daemon's status once it has ended.
    const daemon = descendants(child.pid).find((pid) => cmdline(pid).some((a) => a.endsWith('node_modules/.bin/netconsd')))
    check(daemon !== undefined, `no process node_modules/.bin/netconsd under npx (pid ${child.pid})`)
    process.kill(daemon, 'SIGTERM')
    await waitFor(() => exit, 30_000, () => exit)
    check(exit !== null, `no exit within 30 s of SIGTERM\n${daemonOutput()}`)
    check(exit.code === 0, `exit after SIGTERM: ${JSON.stringify(exit)}, not 0\n${daemonOutput()}`)
    const errors = logs().filter((l) => l.level >= 50)
    check(errors.length === 0, `the daemon logged errors:\n${errors.map((l) => JSON.stringify(l)).join('\n')}`)
    step('SIGTERM: exit 0, no error logged')
  } finally {
    if (exit === null) { try { process.kill(-child.pid, 'SIGKILL') } catch {} }
  }
}

/** Resolves with fn()'s first truthy value, or undefined after ms (or once the daemon has exited). */
async function waitFor (fn, ms, exited) {
  const until = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > until || exited() !== null) return undefined
    await sleep(100)
  }
}

async function send (from, port, datagrams) {
  const s = createSocket('udp4')
  await new Promise((resolve, reject) => { s.once('error', reject); s.bind(0, from, resolve) })
  // One at a time, as a kernel sends them: netconsole order is arrival order.
  for (const d of datagrams) await new Promise((resolve, reject) => s.send(d, port, '127.0.0.1', (e) => e ? reject(e) : resolve()))
  s.close()
}

/** Every process below pid, from /proc/<pid>/stat (field 4 is the parent's pid). */
function descendants (pid) {
  const parents = new Map()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {} // gone meanwhile
  }
  const below = (p) => [...parents].filter(([, pp]) => pp === p).flatMap(([k]) => [k, ...below(k)])
  return below(pid)
}

function cmdline (pid) {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0') } catch { return [] }
}

/** The sum of every sample of a Prometheus counter. */
function sum (text, name) {
  let total = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

const started = Date.now()
const dir = mkdtempSync(join(tmpdir(), 'netconsd-smoke-'))
try {
  await main(dir)
  step(`passed in ${Math.round((Date.now() - started) / 1000)} s`)
  if (!keep) rmSync(dir, { recursive: true, force: true })
} catch (e) {
  console.error(`pack-smoke: FAILED: ${e instanceof SmokeFailure ? e.message : e.stack}`)
  console.error(`pack-smoke: the temp directory is kept for a look: ${dir}`)
  process.exit(1)
}
