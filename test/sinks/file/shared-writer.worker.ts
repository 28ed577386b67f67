/**
 * A worker thread standing in for a netconsd worker: its own FileSink instance appending to the
 * same shared file as its siblings (used by index.test.ts to check lines never interleave).
 */
import { workerData, parentPort } from 'node:worker_threads'
import { pino } from 'pino'
import { FileSink } from '../../../src/sinks/file/index.js'
import { makeTestRecord } from '../conformance.js'

const { path, thread, workerCount, lines } = workerData as { path: string, thread: number, workerCount: number, lines: number }
const sink = new FileSink({ path, format: 'json' }, { sinkId: 'shared', thread, workerCount, logger: pino({ level: 'silent' }), configDir: '/' })
for (let i = 0; i < lines; i++) {
  // Lengths from a few bytes to ~6 KB so writes straddle page and pipe-buffer sizes.
  sink.write(makeTestRecord({ seq: i, thread, text: `w${thread} #${i} ` + 'x'.repeat((i * 977 + thread * 131) % 6000) }))
  if (i % 97 === 0) await new Promise((resolve) => setImmediate(resolve))
}
await sink.close()
parentPort!.postMessage(sink.stats())
