/**
 * The attacks of issue 14, run against the real daemon (dist/src/cli.js, default options, 2
 * workers, loopback only), each bounded in datagrams and time. For each it prints: datagrams
 * sent, admitted (sent minus admission drops), records delivered for a legitimate host sending
 * 200 msgs/s beside the attacker, the daemon's peak RSS (VmHWM), and drops by reason.
 *
 *   node dist/bench/attack.js [--only NAME] [--seconds S]
 *
 * Spoofed sources are real: the attacker binds sockets to 127.x.y.z (all of 127.0.0.0/8 is
 * local on Linux). Results go to docs/operations.md "Under attack" by hand.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import http from 'node:http'
import { mkdtempSync, openSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { parseArgs } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const { values: argv } = parseArgs({ options: { only: { type: 'string' }, seconds: { type: 'string', default: '10' } } })
const seconds = Number(argv.seconds)
const LEGIT = '127.0.0.2'
const LEGIT_RATE = 200

interface Result { name: string, sent: number, admitted: number, legitSent: number, legitDelivered: number, peakRssMiB: number, drops: Record<string, number>, note: string }

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

async function freePort (type: 'udp4' | 'tcp'): Promise<number> {
  if (type === 'udp4') {
    const s = dgram.createSocket('udp4')
    s.bind(0, '127.0.0.1')
    await once(s, 'listening')
    const p = s.address().port
    s.close()
    return p
  }
  const srv = http.createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const p = (srv.address() as { port: number }).port
  srv.close()
  return p
}

interface Daemon { proc: ChildProcess, dir: string, udp: number, metrics: number, stop: () => Promise<void> }

async function startDaemon (sinks: string, rateLimit: string): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-attack-'))
  const udp = await freePort('udp4')
  const metrics = await freePort('tcp')
  const cfg = join(dir, 'attack.json5')
  writeFileSync(cfg, `{ version: 1, metrics: { listen: '127.0.0.1:${metrics}' },
    sinks: { legit: { type: 'file', path: '${join(dir, 'legit.log')}' }, ${sinks} },
    rules: [ { id: 'legit', match: { host: '${LEGIT}' }, to: ['legit'] }${sinks === '' ? '' : ", { id: 'rest', to: ['peer'] }"} ],
    admission: { rateLimit: { ${rateLimit} } } }\n`)
  // ATTACK_NODE_ARGS: node flags for the daemon (e.g. --trace-gc, with ATTACK_DAEMON_STDOUT).
  const nodeArgs = (process.env.ATTACK_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const proc = spawn(process.execPath, [...nodeArgs, join(root, 'dist', 'src', 'cli.js'), '-c', cfg, '-w', '2', '-u', String(udp), '-a', '127.0.0.1'],
    // ATTACK_DAEMON_STDOUT=FILE keeps the daemon's stdout (with ATTACK_NODE_ARGS=--trace-gc: the heap per thread).
    { stdio: ['ignore', process.env.ATTACK_DAEMON_STDOUT !== undefined ? openSync(process.env.ATTACK_DAEMON_STDOUT, 'w') : 'ignore', 'pipe'], env: { ...process.env, NETCONSD_LOG_LEVEL: 'warn' } })
  let err = ''
  proc.stderr!.on('data', (d: Buffer) => { if (err.length < 65536) err += d.toString() })
  const t0 = Date.now()
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`daemon exited: ${err.slice(-500)}`)
    try { await scrape(metrics); break } catch {}
    if (Date.now() - t0 > 15_000) { proc.kill('SIGKILL'); throw new Error(`daemon not ready: ${err.slice(-500)}`) }
    await sleep(100)
  }
  return {
    proc,
    dir,
    udp,
    metrics,
    stop: async () => {
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      if (proc.exitCode === null) await once(proc, 'exit')
      clearTimeout(t)
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function scrape (port: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', timeout: 5000 }, (res) => {
      let s = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { s += d })
      res.on('end', () => { resolve(s) })
    })
    req.on('error', reject)
    req.on('timeout', () => { req.destroy(new Error('timeout')) })
  })
}

/** Drops by reason (every *_dropped_total series with a reason label, summed over other labels). */
function drops (text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^(netconsd_\w*dropped\w*_total)\{([^}]*)\} ([0-9.e+]+)$/.exec(line)
    if (m === null) continue
    const reason = /reason="([^"]+)"/.exec(m[2]!)?.[1]
    const stage = /stage="([^"]+)"/.exec(m[2]!)?.[1]
    const v = Number(m[3])
    if (reason === undefined || v === 0) continue
    const k = stage !== undefined ? `${stage}:${reason}` : reason
    out[k] = (out[k] ?? 0) + v
  }
  return out
}

function vmHwmMiB (pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+)/.exec(s)![1]) / 1024
}

/** One socket per source address (127.x.y.z), bound to an ephemeral port. */
async function sockets (addrs: string[]): Promise<dgram.Socket[]> {
  return await Promise.all(addrs.map(async (a) => {
    const s = dgram.createSocket('udp4')
    s.bind(0, a)
    await once(s, 'listening')
    s.on('error', () => {})
    return s
  }))
}

const spoofAddr = (i: number): string => `127.10.${(i >> 8) & 255}.${i & 255}`

/**
 * Runs `attack(tick)` every 10 ms for `seconds` beside the legitimate host at 200 msgs/s, then
 * waits for delivery and collects the figures.
 */
async function run (name: string, d: Daemon, attack: (tickMs: number) => number, note: string, extra?: () => Promise<string>): Promise<Result> {
  const [legit] = await sockets([LEGIT])
  let sent = 0
  let legitSent = 0
  const t0 = performance.now()
  let last = t0
  while (performance.now() - t0 < seconds * 1000) {
    const now = performance.now()
    const dt = now - last
    last = now
    sent += attack(dt)
    const wantLegit = Math.floor((now - t0) / 1000 * LEGIT_RATE)
    while (legitSent < wantLegit) {
      legit!.send(`6,${legitSent},${legitSent * 1000},-;legit message ${legitSent}\n`, d.udp, '127.0.0.1')
      legitSent++
    }
    await sleep(10)
  }
  let note2 = note
  if (extra !== undefined) note2 += ' ' + await extra()
  await sleep(2000)
  const text = await scrape(d.metrics)
  const dr = drops(text)
  const admissionDrops = Object.entries(dr).filter(([k]) => k.startsWith('admission:')).reduce((a, [, v]) => a + v, 0)
  const log = existsSync(join(d.dir, 'legit.log')) ? readFileSync(join(d.dir, 'legit.log'), 'utf8') : ''
  const legitDelivered = new Set(log.match(/legit message \d+/g) ?? []).size
  const peak = vmHwmMiB(d.proc.pid!)
  legit!.close()
  return { name, sent, admitted: sent + legitSent - admissionDrops, legitSent, legitDelivered, peakRssMiB: Math.round(peak), drops: dr, note: note2 }
}

/** Paces `ratePerSec` datagrams per source over the elapsed ms; returns a sender for run(). */
function paced (socks: dgram.Socket[], ratePerSec: number, port: number, payload: (src: number, n: number) => Buffer | string, maxTotal: number): (dt: number) => number {
  let carry = 0
  let total = 0
  const seq = new Array<number>(socks.length).fill(0)
  return (dt) => {
    carry += dt / 1000 * ratePerSec
    const n = Math.floor(carry)
    carry -= n
    let c = 0
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < socks.length && total < maxTotal; i++) {
        socks[i]!.send(payload(i, seq[i]!++), port, '127.0.0.1')
        c++
        total++
      }
    }
    return c
  }
}

async function deadPeer (): Promise<{ url: string, close: () => void }> {
  const srv = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(500); res.end() }) })
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/v1/logs`, close: () => { srv.close(); srv.closeAllConnections() } }
}

const attacks: Record<string, () => Promise<Result>> = {
  'otlp-down-60k': async () => {
    const peer = await deadPeer()
    const d = await startDaemon(`peer: { type: 'otlp', url: '${peer.url}' }`, '')
    const socks = await sockets([1, 2, 3, 4].map((i) => `127.20.0.${i}`))
    const body = 'A'.repeat(60_000)
    // 60 kB records, kernel-style 1000-byte ncfrag fragments are what a kernel sends; one whole
    // datagram each is what an attacker can send too (cheaper for the sender, same held record).
    const r = await run('60 kB records, OTLP peer returns 500', d,
      paced(socks, 250, d.udp, (_s, n) => `6,${n},${n},-;${body}\n`, 4 * 250 * seconds), '4 senders × 250/s')
    await d.stop(); for (const s of socks) s.close(); peer.close()
    return r
  },
  'fragment-flood': async () => {
    const d = await startDaemon('', '')
    const socks = await sockets(Array.from({ length: 250 }, (_, i) => spoofAddr(i)))
    const r = await run('first-fragment flood, 250 sources × 100/s', d,
      paced(socks, 100, d.udp, (_s, n) => `6,${n},${n},-,ncfrag=0/65536;x`, 250 * 100 * seconds), 'ncfrag=0/65536 with 1 byte')
    await d.stop(); for (const s of socks) s.close()
    return r
  },
  'spoof-50': async () => await spoof(50),
  'spoof-all': async () => await spoof(65536),
  'level0-flood': async () => {
    const d = await startDaemon('', 'datagramsPerSec: 100, burstDatagrams: 200')
    const [s] = await sockets(['127.30.0.1'])
    const capture = readFileSync(join(root, 'test', 'fixtures', 'kernel', '6.12-ext-panic', 'payloads.jsonl'), 'utf8')
      .split('\n').filter((l) => l.trim() !== '').map((l) => Buffer.from((JSON.parse(l) as { b64: string }).b64, 'base64'))
    const r = await run('level-0 flood, 1 source × 4000/s (limit 100/s burst 200)', d,
      paced([s!], 4000, d.udp, (_s, n) => `0,${n},${n},-;fake emergency ${n}\n`, 4000 * seconds), '', async () => {
        // a real panic from a host that was chatty before (its normal bucket is spent)
        const [p] = await sockets(['127.30.0.2'])
        for (let i = 0; i < 300; i++) p!.send(`6,${i},${i},-;chatter\n`, d.udp, '127.0.0.1')
        await sleep(50)
        const before = drops(await scrape(d.metrics))
        for (const dg of capture) p!.send(dg, d.udp, '127.0.0.1')
        await sleep(500)
        const after = drops(await scrape(d.metrics))
        p!.close()
        const lost = (after['admission:emergency_limited'] ?? 0) - (before['admission:emergency_limited'] ?? 0)
        return `panic capture (${capture.length} datagrams) from a spent source: emergency/panic datagrams refused ${lost}`
      })
    await d.stop(); s!.close()
    return r
  }
}

async function spoof (maxSources: number): Promise<Result> {
  const d = await startDaemon('', `datagramsPerSec: 20, burstDatagrams: 20, maxSources: ${maxSources}`)
  const socks = await sockets(Array.from({ length: 200 }, (_, i) => spoofAddr(i)))
  const r = await run(`spoofed sources, 200 × 150/s, limit 20/s burst 20, maxSources ${maxSources}`, d,
    paced(socks, 150, d.udp, (_s, n) => `6,${n},${n},-;spoofed ${n}\n`, 200 * 150 * seconds), '')
  await d.stop(); for (const s of socks) s.close()
  return r
}

if (!existsSync(join(root, 'dist', 'src', 'cli.js'))) { process.stderr.write('dist/src/cli.js missing (npx tsc -p .)\n'); process.exit(1) }
const results: Result[] = []
for (const [k, f] of Object.entries(attacks)) {
  if (argv.only !== undefined && !k.includes(argv.only)) continue
  const r = await f()
  results.push(r)
  process.stdout.write(JSON.stringify(r) + '\n')
}
process.stdout.write('\n| attack | sent | admitted | legit delivered | peak RSS MiB | drops by reason |\n|---|---:|---:|---:|---:|---|\n')
for (const r of results) {
  const dr = Object.entries(r.drops).map(([k, v]) => `${k} ${v}`).join(', ')
  process.stdout.write(`| ${r.name}${r.note !== '' ? ` (${r.note})` : ''} | ${r.sent} | ${r.admitted} | ${r.legitDelivered}/${r.legitSent} | ${r.peakRssMiB} | ${dr} |\n`)
}
