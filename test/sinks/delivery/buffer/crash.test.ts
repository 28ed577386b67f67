import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DiskQueue } from '../../../../src/sinks/delivery/buffer/disk-queue.js'

const child = fileURLToPath(new URL('./crash-writer.js', import.meta.url))

/** Runs the writer, SIGKILLs it after `ms`, returns the last accepted and acked numbers it reported. */
async function runAndKill (dir: string, ms: number, fsync: string): Promise<{ accepted: number, acked: number }> {
  const p = spawn(process.execPath, [child, dir, fsync], { stdio: ['ignore', 'pipe', 'inherit'] })
  let accepted = -1
  let acked = -1
  let buf = ''
  p.stdout.setEncoding('utf8')
  p.stdout.on('data', (chunk: string) => {
    buf += chunk
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const [kind, n] = buf.slice(0, nl).split(' ')
      buf = buf.slice(nl + 1)
      if (kind === 'A') accepted = Number(n)
      if (kind === 'K') acked = Number(n)
    }
  })
  // Kill only once it is writing, so every run tests a kill under load.
  await new Promise<void>((resolve) => {
    const check = setInterval(() => { if (accepted > 500) { clearInterval(check); resolve() } }, 5)
  })
  await new Promise((resolve) => setTimeout(resolve, ms))
  const exited = new Promise((resolve) => p.once('exit', resolve))
  p.kill('SIGKILL')
  await exited
  return { accepted, acked }
}

for (const fsync of ['interval', 'always']) {
  test(`SIGKILL under load (fsync ${fsync}), three runs: acked records never come back, every accepted one does, in order`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'netconsd-crash-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    for (let run = 0; run < 3; run++) {
      const { accepted, acked } = await runAndKill(dir, 50 + Math.floor(Math.random() * 200), fsync)
      assert.ok(accepted > 500)
      const q = await DiskQueue.open({ dir, segmentBytes: 65_536, maxBytes: 64 * 2 ** 20 })
      const got: number[] = []
      for (;;) {
        const batch = await q.read(5000)
        if (batch.length === 0) break
        for (const b of batch) {
          const n = Number(b.toString('latin1', 0, 10))
          assert.equal(b.length, 11 + (n % 300), `record ${n} intact`)
          got.push(n)
        }
      }
      assert.ok(got.length > 0)
      assert.ok(got[0]! > acked, `acked record ${acked} delivered again (first ${got[0]})`)
      assert.ok(got[0]! <= acked + 121, 'nothing between the last ack and the first record is lost')
      assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => got[0]! + i), 'contiguous: no gap, no duplicate')
      assert.ok(got.at(-1)! >= accepted, `accepted record ${accepted} lost (last ${got.at(-1)})`)
      // Deliver everything, so the next run (which numbers from 0 again) starts empty.
      await q.ack()
      assert.equal(q.size, 0)
      await q.close()
    }
  })
}
