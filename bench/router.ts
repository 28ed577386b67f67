// Router cost per record with 100 rules: node dist/bench/router.js
// Rules are a realistic mix (host globs and CIDRs, levels, facilities, text contains/regex, dict,
// labels); records are drawn from a fixed pool so the numbers compare between runs.
import { buildRouter } from '../src/router/router.js'
import type { RuleConfig } from '../src/config/types.js'
import type { NetconsRecord } from '../src/types.js'

const sinks = ['pager', 'archive', 'otlp', 'syslog', 'team-a', 'team-b', 'team-c', 'lost']
const rules: RuleConfig[] = []
for (let i = 0; i < 100; i++) {
  const to = [sinks[i % 7]!]
  switch (i % 10) {
    case 0: rules.push({ id: `r${i}`, match: { host: `web-${i}*` }, to }); break
    case 1: rules.push({ id: `r${i}`, match: { host: `10.${i}.0.0/16`, level: '<=err' }, to }); break
    case 2: rules.push({ id: `r${i}`, match: { text: `driver${i} failure` }, to }); break
    case 3: rules.push({ id: `r${i}`, match: { text: { regex: `^usb \\d+-${i}: .*disconnect` } }, to }); break
    case 4: rules.push({ id: `r${i}`, match: { facility: 'user', level: ['debug', 'info'], text: { startsWith: `app${i}:` } }, to }); break
    case 5: rules.push({ id: `r${i}`, match: { dict: { SUBSYSTEM: `sub${i}` } }, to }); break
    case 6: rules.push({ id: `r${i}`, match: { host: { labels: { rack: `r${i}` } }, level: '<=warning' }, set: { rack: `r${i}` } }); break
    case 7: rules.push({ id: `r${i}`, match: { not: { host: '10.0.0.0/8' }, text: [`panic${i}`, `oops${i}`] }, to }); break
    case 8: rules.push({ id: `r${i}`, match: { any: [{ incident: 'panic' }, { text: { contains: `BUG${i}`, ignoreCase: true } }] }, to }); break
    default: rules.push({ id: `r${i}`, match: { lostBefore: '>100', release: `6.${i}.*` }, to })
  }
}
rules.push({ id: 'errors', match: { level: '<=err' }, to: ['archive'] })

const router = buildRouter({ rules, sinkIds: sinks, unmatchedTo: ['lost'], taps: [] }, (i, p, m) => { throw new Error(`rule ${i} ${p}: ${m}`) })

const texts = [
  'usb 1-3: USB disconnect, device number 2', 'EXT4-fs (sda1): mounted filesystem with ordered data mode',
  'e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex', 'BUG: kernel NULL pointer dereference, address: 0000000000000000',
  'audit: type=1400 audit(1700000000.000:10): apparmor="DENIED" operation="open"', 'driver42 failure: timeout waiting for firmware'
]
const pool: NetconsRecord[] = []
for (let i = 0; i < 1024; i++) {
  const text = texts[i % texts.length]!
  pool.push({
    kind: 'log', format: 'extended', src: `::ffff:10.${i % 50}.1.${i % 250}`, srcPort: 6665,
    host: { name: `web-${i % 300}`, address: `::ffff:10.${i % 50}.1.${i % 250}`, labels: { rack: `r${i % 100}` } },
    thread: 0, seq: i, facility: i % 5 === 0 ? 1 : 0, level: i % 8, tsUsec: i, text, raw: Buffer.from(text),
    dict: i % 3 === 0 ? [['SUBSYSTEM', `sub${i % 100}`], ['DEVICE', '+usb:1-1']] : [], release: null,
    contStart: false, cont: false, oos: false, seqReset: false, incomplete: false, lostBefore: 0, receivedAt: 0, attributes: {}
  })
}

function run (n: number): number {
  let sum = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) sum += router.route(pool[i & 1023]!).length
  const ns = Number(process.hrtime.bigint() - t0)
  if (sum < 0) console.log(sum)
  return ns / n
}

// Machine calibration: one failed String#includes on a typical kernel line, so results from
// different machines can be compared (a rule costs a few of these).
function calibrate (): number {
  const needles = Array.from({ length: 32 }, (_, i) => `driver${i} failure`)
  let hits = 0
  const n = 2_000_000
  const t0 = process.hrtime.bigint()
  for (let k = 0; k < n; k++) if (texts[k % texts.length]!.includes(needles[k & 31]!)) hits++
  const ns = Number(process.hrtime.bigint() - t0) / n
  if (hits < 0) console.log(hits)
  return ns
}

run(200_000) // warm up (JIT)
const results: number[] = []
for (let k = 0; k < 5; k++) results.push(run(1_000_000))
results.sort((a, b) => a - b)
console.log(`router: ${rules.length} rules, ${results[2]!.toFixed(0)} ns/record (median of 5 x 1e6; min ${results[0]!.toFixed(0)}, max ${results[4]!.toFixed(0)})`)
console.log(`calibration: ${calibrate().toFixed(1)} ns per failed String#includes on this machine`)
console.log(`matches: ${JSON.stringify(Object.entries(router.matchCounts()).filter(([, v]) => v > 0).length)} rules matched something; unmatched ${router.unmatchedCount()}`)
