#!/usr/bin/env node
/** `npm run blast -- [options]`: sends netconsole load to a daemon on loopback and prints what it sent. */
import { parseArgs } from 'node:util'
import { blast, type BlastOptions } from './blaster.js'

const HELP = `Usage: npm run blast -- [options]
  --hosts N        simulated hosts, each its own source address 127.1.x.y (default 16)
  --count N        records per host (default 1000; 0 = until --duration)
  --duration S     seconds to run when --count is 0
  --rate R         total records per second (default 0 = as fast as possible)
  --target ADDR    destination address (default 127.0.0.1)
  --port P         destination port (default 1514)
  --size B         approximate datagram size (default 100)
  --legacy         send legacy console text instead of extended records
  --frag-every N   every Nth record per host is a ~2.5 KB fragmented (ncfrag) record
  --oops-every N   every Nth record per host is a whole oops report
  --ipv6           send from [::1] (hosts differ by port) to --target (default ::1)
  --json           print the full result as JSON`

const { values: v } = parseArgs({
  options: {
    hosts: { type: 'string', default: '16' },
    count: { type: 'string', default: '1000' },
    duration: { type: 'string' },
    rate: { type: 'string', default: '0' },
    target: { type: 'string' },
    port: { type: 'string', default: '1514' },
    size: { type: 'string', default: '100' },
    legacy: { type: 'boolean' },
    'frag-every': { type: 'string', default: '0' },
    'oops-every': { type: 'string', default: '0' },
    ipv6: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' }
  }
})
if (v.help === true) {
  process.stdout.write(HELP + '\n')
} else {
  const num = (s: string, name: string): number => {
    const n = Number(s)
    if (!Number.isFinite(n) || n < 0) { process.stderr.write(`blast: --${name} expects a non-negative number, got "${s}"\n`); process.exit(2) }
    return n
  }
  const o: BlastOptions = {
    hosts: Math.max(1, num(v.hosts, 'hosts')),
    count: num(v.count, 'count'),
    rate: num(v.rate, 'rate'),
    target: v.target ?? (v.ipv6 === true ? '::1' : '127.0.0.1'),
    port: num(v.port, 'port'),
    size: num(v.size, 'size'),
    legacy: v.legacy === true,
    fragEvery: num(v['frag-every'], 'frag-every'),
    oopsEvery: num(v['oops-every'], 'oops-every'),
    ipv6: v.ipv6 === true
  }
  if (v.duration !== undefined) o.durationMs = num(v.duration, 'duration') * 1000
  if (o.count === 0 && o.durationMs === undefined) o.durationMs = 10_000
  const r = await blast(o)
  if (v.json === true) process.stdout.write(JSON.stringify(r) + '\n')
  else process.stdout.write(`Wrote ${r.datagrams} datagrams (${r.records} records) from ${r.hosts} hosts in ${(r.ms / 1000).toFixed(2)} s (${r.ratePerSec} records/s), ${r.sendErrors} send errors\n`)
}
