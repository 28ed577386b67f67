// Child process for crash.test.ts: appends numbered records in batches as fast as it can,
// and now and then reads and acks a prefix, printing progress lines after each durable step:
//   A <last accepted record number>     K <last acked record number>
// The parent kills it with SIGKILL at a random moment.
import { DiskQueue } from '../../../../src/sinks/delivery/buffer/disk-queue.js'

const dir = process.argv[2]!
const fsync = (process.argv[3] ?? 'interval') as 'always' | 'interval' | 'never'
const q = await DiskQueue.open({ dir, segmentBytes: 65_536, maxBytes: 64 * 2 ** 20, fsync })
let next = 0
let acked = -1
for (let round = 0; ; round++) {
  const batch: Buffer[] = []
  for (let i = 0; i < 50; i++) {
    const n = next + i
    batch.push(Buffer.from(`${String(n).padStart(10, '0')}|${'p'.repeat(n % 300)}`))
  }
  const r = await q.append(batch)
  next += r.accepted
  process.stdout.write(`A ${next - 1}\n`)
  if (round % 7 === 3) {
    const got = await q.read(120)
    await q.ack()
    if (got.length > 0) acked = Number(got.at(-1)!.toString('latin1', 0, 10))
    process.stdout.write(`K ${acked}\n`)
  }
}
