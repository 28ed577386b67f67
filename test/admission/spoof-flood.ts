// Child process for memory.test.ts: feeds datagrams from ever-new (spoofed) source addresses
// through admission and prints live memory (V8 heap + off-heap) at checkpoints as JSON. Run with --expose-gc.
import { Admission, resolveAdmissionConfig } from '../../src/admission/index.js'

const checkpoints = process.argv.slice(2).map(Number)
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const a = new Admission(resolveAdmissionConfig({
  allow: ['0.0.0.0/1', '128.0.0.0/1', '2001:db8::/32'],
  deny: ['10.66.0.0/16'],
  rateLimit: { datagramsPerSec: 10, burstDatagrams: 10 }
}))
const msg = Buffer.from('6,1,1,-;spoofed\n')
gc()
const baseline = process.memoryUsage()
const heap: number[] = []
const external: number[] = []
let i = 0
for (const until of checkpoints) {
  for (; i < until; i++) {
    const src = i % 4 === 0
      ? `2001:db8:${(i >>> 16).toString(16)}::${(i & 0xffff).toString(16)}`
      : `::ffff:${(i >>> 24) & 255}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`
    a.admitDatagram(src, msg, 0, msg.length, i)
  }
  gc()
  const m = process.memoryUsage()
  heap.push(m.heapUsed)
  external.push(m.external)
}
process.stdout.write(JSON.stringify({ baseline: { heapUsed: baseline.heapUsed, external: baseline.external }, heap, external, counters: a.counters() }) + '\n')
