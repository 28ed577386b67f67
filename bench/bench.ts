/**
 * `npm run bench`: the highest rate each receiver takes at < 1% loss on loopback, with CPU, RSS and
 * per-host order, measured in one run; rsyslog (imudp → omfile) as the yardstick when installed.
 *
 *   ncblast (C, UDP GSO, 16 hosts, 100-byte extended messages) ──loopback──► receiver ──► lines file
 *
 * Receivers (each started fresh per trial):
 *   daemon-native / daemon-js  the real daemon (`dist/src/cli.js`) with bench/modules/linefile.js,
 *                              --receive-path native | js (skipped, with the reason, if it cannot start)
 *   mini-native / mini-js      bench/mini-receiver.js: the same receive paths and the same per-message
 *                              work without the daemon's pipeline (ncrx, router, sinks)
 *   rsyslog                    rsyslogd -n -f <tmp conf>: imudp (same rcvbuf) → omfile "%rawmsg%\n"
 *
 * A trial: start the receiver, warm it up (1 s at 50k/s from other hosts), settle, send `duration`
 * seconds at the rate, settle, count. loss = 1 − received / sent. A search: an unthrottled probe,
 * then `steps` bisection trials; the answer is the highest rate with loss < 1%. Medians over
 * `repeat` searches. Results: JSON to --out (default .bench/results.json) and a table on stdout.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { tmpdir, cpus } from 'node:os'
import { loadNative, nativeUnavailableReason } from '../src/ingest/native.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const benchDir = join(root, '.bench')

const { values: argv } = parseArgs({
  options: {
    receivers: { type: 'string', default: 'daemon-native,daemon-js,mini-native,mini-js,rsyslog' },
    duration: { type: 'string', default: '2' },
    steps: { type: 'string', default: '5' },
    repeat: { type: 'string', default: '1' },
    rcvbuf: { type: 'string', default: String(8 << 20) },
    workers: { type: 'string', default: '1' },
    port: { type: 'string', default: '15170' },
    sources: { type: 'string', default: '16' },
    length: { type: 'string', default: '100' },
    'fixed-rate': { type: 'string', default: '100000' },
    out: { type: 'string', default: join(benchDir, 'results.json') },
    'cpu-prof': { type: 'boolean', default: false }
  }
})
const duration = Number(argv.duration)
const steps = Number(argv.steps)
const repeat = Number(argv.repeat)
const rcvbuf = Number(argv.rcvbuf)
const workers = Number(argv.workers)
const port = Number(argv.port)
const sources = Number(argv.sources)
const msgLen = Number(argv.length)
const fixedRate = Number(argv['fixed-rate'])

interface Trial { noisy: boolean, othersCores: number, rate: number, sent: number, received: number, loss: number, cpuCores: number, cpuUsPerMsg: number, rssMiB: number, outOfOrder: number, gaps: number, senderRate: number }
interface Running { proc: ChildProcess, dir: string, count: () => number, order: () => { outOfOrder: number, gaps: number }, stop: () => Promise<void> }
interface ReceiverDef { name: string, description: string, unavailable: () => string | null, start: (dir: string) => Promise<Running> }

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

function buildBlaster (): string {
  const bin = join(benchDir, 'ncblast')
  const src = join(root, 'native', 'bench', 'ncblast.c')
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(benchDir, { recursive: true })
    const r = spawnSync('cc', ['-O2', '-Wall', '-o', bin, src], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`cannot build the load generator (cc): ${r.stderr ?? r.error?.message}`)
  }
  return bin
}

const blaster = buildBlaster()

async function blast (rate: number, secs: number, octet: number): Promise<{ sent: number, rate: number }> {
  const args = ['-H', '127.0.0.1', '-p', String(port), '-r', String(rate), '-d', String(secs), '-s', String(sources), '-l', String(msgLen), '-b', '16', '-G', '-a', String(octet)]
  const p = spawn(blaster, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d: Buffer) => { out += d.toString() })
  await new Promise((resolve) => p.on('exit', resolve))
  const j = JSON.parse(out) as { sent: number, rate: number }
  return j
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineBusySeconds (): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100
}

/**
 * Waits until the machine is quiet (other tenants use < 0.25 core over 0.5 s), up to 120 s. A
 * shared 2-vCPU box with someone else's test suite running gives numbers that mean nothing.
 * Returns the busy cores seen last.
 */
async function waitQuiet (): Promise<number> {
  const end = Date.now() + 120_000
  let busy = 0
  for (;;) {
    const b0 = machineBusySeconds()
    await sleep(500)
    busy = (machineBusySeconds() - b0) / 0.5
    if (busy < 0.25 || Date.now() > end) return busy
    if (!quietNoted) { console.log(`  (waiting for a quiet machine: ${busy.toFixed(2)} cores busy elsewhere)`); quietNoted = true }
  }
}
let quietNoted = false

function procCpuSeconds (pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    // utime + stime of the whole process (all threads), clock ticks.
    return (Number(f[11]) + Number(f[12])) / 100
  } catch { return 0 }
}

function procHwmMiB (pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) / 1024
  } catch { return 0 }
}

function readStatus (dir: string): { count: number, outOfOrder: number, gaps: number } {
  const t = { count: 0, outOfOrder: 0, gaps: 0 }
  for (const f of readdirSync(dir)) {
    if (!/^status\.\d+\.json$/.test(f)) continue
    try {
      const s = JSON.parse(readFileSync(join(dir, f), 'utf8')) as typeof t
      t.count += s.count; t.outOfOrder += s.outOfOrder; t.gaps += s.gaps
    } catch { /* being replaced */ }
  }
  return t
}

async function waitFor (cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

async function stopProc (p: ChildProcess, ms = 10_000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  const done = new Promise((resolve) => p.once('exit', resolve))
  p.kill('SIGTERM')
  const t = setTimeout(() => p.kill('SIGKILL'), ms)
  await done
  clearTimeout(t)
}

function nodeArgs (dir: string): string[] {
  return argv['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, 'prof')}`] : []
}

function startNode (dir: string, args: string[], env: NodeJS.ProcessEnv, ready: (out: string, err: string) => boolean): Promise<Running> {
  const proc = spawn(process.execPath, [...nodeArgs(dir), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let out = ''
  let err = ''
  proc.stdout!.on('data', (d: Buffer) => { if (out.length < 65536) out += d.toString() })
  proc.stderr!.on('data', (d: Buffer) => { if (err.length < 65536) err += d.toString() })
  const running: Running = {
    proc,
    dir,
    count: () => readStatus(dir).count,
    order: () => readStatus(dir),
    stop: async () => { await stopProc(proc) }
  }
  return new Promise((resolve, reject) => {
    const check = setInterval(() => {
      if (ready(out, err)) { clearInterval(check); resolve(running) }
      if (proc.exitCode !== null) { clearInterval(check); reject(new Error(`exited (${proc.exitCode}): ${err.trim().split('\n').slice(-3).join(' | ')}`)) }
    }, 20)
    setTimeout(() => { clearInterval(check); void stopProc(proc); reject(new Error(`not ready after 15 s: ${err.slice(-300)}`)) }, 15_000)
  })
}

/**
 * The daemon's config for a trial: no sinks besides the module, and no per-source rate limit
 * (16 simulated hosts at hundreds of thousands of msgs/s are far above the default 2000/s per
 * host, which protects a fleet, not a benchmark).
 */
function benchConfig (dir: string): string {
  const file = join(dir, 'bench.json5')
  writeFileSync(file, '{ version: 1, sinks: {}, rules: [], admission: { rateLimit: { enabled: false } } }\n')
  return file
}

function daemon (path: 'native' | 'js'): ReceiverDef {
  return {
    name: `daemon-${path}`,
    description: `netconsd daemon, --receive-path ${path}, -w ${workers}, bench/modules/linefile.js`,
    unavailable: () => {
      if (!existsSync(join(root, 'dist', 'src', 'cli.js'))) return 'dist/src/cli.js missing (npm run build)'
      if (path === 'native' && loadNative() === null) return nativeUnavailableReason()
      return null
    },
    start: async (dir) => await startNode(dir, [join(root, 'dist', 'src', 'cli.js'), '-c', benchConfig(dir), '-w', String(workers), '-l', '1', '-u', String(port), '-a', '::',
      '--receive-path', path, join(root, 'dist', 'bench', 'modules', 'linefile.js')],
    { NETCONSD_BENCH_DIR: dir, NETCONSD_LOG_LEVEL: 'info' },
    (_o, e) => e.includes('"Listening.') || e.includes('Listening'))
  }
}

function mini (path: 'native' | 'js'): ReceiverDef {
  return {
    name: `mini-${path}`,
    description: path === 'native'
      ? `addon recvmmsg in ${workers} worker thread(s), steered SO_REUSEPORT, parse + line file`
      : 'node dgram on the main thread, parse + line file',
    unavailable: () => path === 'native' && loadNative() === null ? nativeUnavailableReason() : null,
    start: async (dir) => await startNode(dir, [join(root, 'dist', 'bench', 'mini-receiver.js'), '--path', path, '--port', String(port), '--rcvbuf', String(rcvbuf),
      '--workers', String(workers), '--dir', dir], {}, (o) => o.includes('ready'))
  }
}

function rsyslogBinary (): string | null {
  for (const p of ['/usr/sbin/rsyslogd', '/sbin/rsyslogd', '/usr/local/sbin/rsyslogd']) if (existsSync(p)) return p
  return null
}

const rsyslog: ReceiverDef = {
  name: 'rsyslog',
  description: `rsyslogd imudp (rcvbufSize ${rcvbuf}) → omfile "%rawmsg%\\n"`,
  unavailable: () => rsyslogBinary() === null ? 'rsyslogd not installed (apt-get install -y rsyslog)' : null,
  start: async (dir) => {
    const out = join(dir, 'rsyslog.out')
    writeFileSync(join(dir, 'rsyslog.conf'), [
      `global(workDirectory="${dir}")`,
      'module(load="imudp")',
      `input(type="imudp" address="127.0.0.1" port="${port}" rcvbufSize="${rcvbuf}")`,
      'template(name="raw" type="string" string="%rawmsg%\\n")',
      `*.* action(type="omfile" file="${out}" template="raw")`,
      ''
    ].join('\n'))
    const proc = spawn(rsyslogBinary()!, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslog.pid')], { stdio: ['ignore', 'ignore', 'pipe'] })
    let lineLen = 0
    const count = (): number => {
      if (!existsSync(out)) return 0
      const size = statSync(out).size
      if (lineLen === 0 && size > 0) {
        const fd = openSync(out, 'r')
        const b = Buffer.alloc(4096)
        const n = readSync(fd, b, 0, 4096, 0)
        closeSync(fd)
        const nl = b.subarray(0, n).indexOf(0x0a)
        if (nl >= 0) lineLen = nl + 1
      }
      // Every message has the same length, so its line does too.
      return lineLen === 0 ? 0 : Math.floor(size / lineLen)
    }
    // Ready when it answers: send probes until one is written.
    const r: Running = { proc, dir, count, order: () => ({ count: 0, outOfOrder: 0, gaps: 0 }), stop: async () => { await stopProc(proc) } }
    const end = Date.now() + 10_000
    while (count() === 0) {
      if (proc.exitCode !== null || Date.now() > end) { await r.stop(); throw new Error('rsyslogd did not start') }
      await blast(1000, 0.05, 200)
      await sleep(100)
    }
    return r
  }
}

const defs: Record<string, ReceiverDef> = {
  'daemon-native': daemon('native'),
  'daemon-js': daemon('js'),
  'mini-native': mini('native'),
  'mini-js': mini('js'),
  rsyslog
}

/** A trial, redone (up to twice) when other processes took CPU during it. */
async function trial (def: ReceiverDef, rate: number): Promise<Trial> {
  let t = await trialOnce(def, rate)
  for (let i = 0; i < 2 && t.noisy; i++) {
    console.log(`  (trial at ${fmt(rate)} disturbed: ${t.othersCores.toFixed(2)} cores used by other processes; redoing)`)
    t = await trialOnce(def, rate)
  }
  return t
}

async function trialOnce (def: ReceiverDef, rate: number): Promise<Trial> {
  await waitQuiet()
  const dir = mkdtempSync(join(tmpdir(), `ncbench-${def.name}-`))
  const r = await def.start(dir)
  try {
    // Warm-up from other hosts (127.0.200.x): JIT, page cache, first-packet costs.
    await blast(50_000, 1, 200)
    await sleep(500)
    const base = r.count()
    const baseOrder = r.order()
    const cpu0 = procCpuSeconds(r.proc.pid!)
    const m0 = machineBusySeconds()
    const t0 = Date.now()
    const b = await blast(rate, duration, 0)
    const blastCores = (machineBusySeconds() - m0) / ((Date.now() - t0) / 1000)
    const rxDuringBlast = (procCpuSeconds(r.proc.pid!) - cpu0) / ((Date.now() - t0) / 1000)
    // The sender uses at most one core (it is single-threaded; loopback delivery runs in its
    // context): anything beyond sender + receiver is someone else.
    const othersCores = Math.max(0, blastCores - rxDuringBlast - 1)
    // Let the receiver drain its queue; stop early once the count is stable.
    let last = -1
    for (let i = 0; i < 20; i++) {
      await sleep(100)
      const c = r.count()
      if (c === last && c - base >= b.sent) break
      if (c === last && i >= 5) break
      last = c
    }
    const elapsed = (Date.now() - t0) / 1000
    const cpu = procCpuSeconds(r.proc.pid!) - cpu0
    const received = r.count() - base
    const order = r.order()
    const rss = procHwmMiB(r.proc.pid!)
    return {
      noisy: othersCores > 0.3,
      othersCores: Number(othersCores.toFixed(2)),
      rate,
      sent: b.sent,
      senderRate: Math.round(b.rate),
      received,
      loss: b.sent === 0 ? 0 : Math.max(0, 1 - received / b.sent),
      cpuCores: cpu / elapsed,
      cpuUsPerMsg: received > 0 ? cpu * 1e6 / received : 0,
      rssMiB: Math.round(rss),
      outOfOrder: order.outOfOrder - baseOrder.outOfOrder,
      gaps: order.gaps - baseOrder.gaps
    }
  } finally {
    await r.stop()
    if (!argv['cpu-prof']) rmSync(dir, { recursive: true, force: true })
    else console.log(`  profile kept in ${dir}/prof`)
  }
}

interface Search { max: number, atMax: Trial | null, probe: Trial, trials: Trial[] }

async function search (def: ReceiverDef): Promise<Search> {
  const trials: Trial[] = []
  const probe = await trial(def, 0)
  trials.push(probe)
  log(def.name, 'probe', probe)
  const ok = (t: Trial): boolean => t.loss < 0.01 && t.senderRate >= t.rate * 0.98
  let lo = 0
  let hi = probe.senderRate
  let best: Trial | null = null
  // First guess: what it sustained under overload.
  let rate = Math.max(10_000, Math.round(probe.received / duration / 1000) * 1000)
  for (let i = 0; i < steps; i++) {
    const t = await trial(def, rate)
    trials.push(t)
    log(def.name, `step ${i + 1}`, t)
    if (ok(t)) { lo = rate; best = t } else hi = rate
    rate = Math.round((lo + hi) / 2 / 1000) * 1000
    if (hi - lo < 10_000) break
  }
  return { max: best?.rate ?? 0, atMax: best, probe, trials }
}

function log (name: string, what: string, t: Trial): void {
  console.log(`  ${name.padEnd(13)} ${what.padEnd(7)} rate ${fmt(t.rate).padStart(6)} sent ${fmt(t.sent / duration).padStart(6)}/s recv ${(100 * (1 - t.loss)).toFixed(2).padStart(6)}%  cpu ${t.cpuCores.toFixed(2)}  ${t.cpuUsPerMsg.toFixed(2)} µs/msg  rss ${t.rssMiB} MiB  ooo ${t.outOfOrder}`)
}

function fmt (n: number): string {
  return n === 0 ? 'max' : n >= 1000 ? `${Math.round(n / 1000)}k` : String(Math.round(n))
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!
}

async function main (): Promise<void> {
  const names = argv.receivers.split(',').filter((n) => n !== '')
  const host = { node: process.version, cpus: cpus().length, kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), rmemMax: Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8')) }
  console.log(`netconsd bench: ${sources} hosts, ${msgLen}-byte extended messages, ${duration} s trials, rcvbuf ${rcvbuf} requested, ${workers} worker(s); ${JSON.stringify(host)}`)
  const results: Record<string, unknown> = {}
  const summary: Array<{ name: string, max: number, cpuCores: number, rssMiB: number, lossAtMax: number, outOfOrder: number, usPerMsgFixed: number | null }> = []
  for (const name of names) {
    const def = defs[name]
    if (def === undefined) throw new Error(`unknown receiver ${name}; known: ${Object.keys(defs).join(', ')}`)
    const why = def.unavailable()
    if (why !== null) {
      console.log(`  ${name}: skipped (${why})`)
      results[name] = { skipped: why }
      continue
    }
    const searches: Search[] = []
    let fixed: Trial | null = null
    try {
      for (let i = 0; i < repeat; i++) searches.push(await search(def))
      // CPU per message at one fixed, comfortable rate: comparable across receivers.
      if (fixedRate > 0) { fixed = await trial(def, fixedRate); log(name, 'fixed', fixed) }
    } catch (err) {
      console.log(`  ${name}: failed (${(err as Error).message})`)
      results[name] = { failed: (err as Error).message, searches }
      continue
    }
    const max = median(searches.map((s) => s.max))
    const at = searches.map((s) => s.atMax).filter((t): t is Trial => t !== null)
    const row = {
      name,
      max,
      cpuCores: median(at.map((t) => t.cpuCores)),
      rssMiB: Math.max(0, ...searches.flatMap((s) => s.trials.map((t) => t.rssMiB))),
      lossAtMax: median(at.map((t) => t.loss)),
      outOfOrder: searches.reduce((n, s) => n + s.trials.reduce((m, t) => m + t.outOfOrder, 0), 0),
      usPerMsgFixed: fixed === null ? null : Number(fixed.cpuUsPerMsg.toFixed(2))
    }
    summary.push(row)
    results[name] = { description: def.description, ...row, maxes: searches.map((s) => s.max), searches, fixed }
  }
  const rs = summary.find((r) => r.name === 'rsyslog')
  console.log('\nreceiver        max msgs/s (<1% loss)  loss@max  CPU cores@max  µs/msg@' + fmt(fixedRate) + '  peak RSS MiB  out-of-order  × rsyslog')
  for (const r of summary) {
    const ratio = rs !== undefined && rs.max > 0 ? (r.max / rs.max).toFixed(2) : '-'
    console.log(`${r.name.padEnd(16)}${fmt(r.max).padStart(10)}${' '.repeat(13)}${(100 * r.lossAtMax).toFixed(2).padStart(6)}%  ${r.cpuCores.toFixed(2).padStart(13)}  ${String(r.usPerMsgFixed ?? '-').padStart(10)}  ${String(r.rssMiB).padStart(12)}  ${String(r.outOfOrder).padStart(12)}  ${ratio.padStart(9)}`)
  }
  const ratios: Record<string, number> = {}
  if (rs !== undefined && rs.max > 0) for (const r of summary) if (r.name !== 'rsyslog') ratios[`${r.name}/rsyslog`] = Number((r.max / rs.max).toFixed(3))
  const dn = summary.find((r) => r.name === 'daemon-native'); const dj = summary.find((r) => r.name === 'daemon-js')
  if (dn !== undefined && dj !== undefined && dj.max > 0) ratios['daemon-native/daemon-js'] = Number((dn.max / dj.max).toFixed(3))
  const mn = summary.find((r) => r.name === 'mini-native'); const mj = summary.find((r) => r.name === 'mini-js')
  if (mn !== undefined && mj !== undefined && mj.max > 0) ratios['mini-native/mini-js'] = Number((mn.max / mj.max).toFixed(3))
  console.log('ratios:', JSON.stringify(ratios))
  mkdirSync(dirname(argv.out), { recursive: true })
  writeFileSync(argv.out, JSON.stringify({ when: new Date().toISOString(), host, params: { duration, steps, repeat, rcvbuf, workers, sources, msgLen, fixedRate }, summary, ratios, results }, null, 2))
  console.log(`results: ${argv.out}`)
}

await main()
