/**
 * Benchmark output module for the real daemon: netconsd's module contract
 * (`handler(thread, src, buf, msg)`, `exit()`), doing the bench's line-per-message work (one line
 * per message to a file, per-host order and gap check, counters in a status file). Lines are
 * written into a pooled buffer as bytes (`LineConsumer.line`), as a C module would `fprintf` them. Each worker
 * thread loads its own instance; files are per thread. Directory from NETCONSD_BENCH_DIR.
 */
import { join } from 'node:path'
import { LineConsumer } from '../consumer.js'

const dir = process.env.NETCONSD_BENCH_DIR ?? '/tmp'
let consumer: LineConsumer | undefined

interface Msg { seq: number | null, level: number | null, tsUsec: number | null, text: string }

export function handler (thread: number, src: string, buf: Msg | null, msg: Msg | null): void {
  consumer ??= new LineConsumer(join(dir, `lines.${thread}`), join(dir, `status.${thread}.json`))
  const m = msg ?? buf
  if (m === null) return
  consumer.line(src, m.seq ?? 0, m.level ?? 0, m.tsUsec ?? 0, m.text)
}

export async function exit (): Promise<void> {
  await consumer?.close()
}
