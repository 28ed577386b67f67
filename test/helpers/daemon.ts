/** Starting a real daemon (in this process, real worker threads and UDP) for end-to-end tests. */
import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { pino } from 'pino'
import { Daemon, type DaemonOptions } from '../../src/daemon.js'
import { loadConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/types.js'
import { fixturesDir } from './paths.js'
import { loadNative } from '../../src/ingest/native.js'

/** Receive paths to run the daemon suites on: both where the native addon is built. */
// NETCONSD_REQUIRE_NATIVE=1 (CI) runs the native path even when the addon failed to load, so that fails loudly.
export const receivePaths: Array<'native' | 'js'> = loadNative() !== null || process.env.NETCONSD_REQUIRE_NATIVE === '1' ? ['native', 'js'] : ['js']

export const collectModule = join(fixturesDir, 'modules', 'collect-to-file.mjs')

export interface Collected {
  thread: number
  src: string
  legacy: boolean
  seq: number | null
  text: string
  facility: number
  level: number | null
  dict: Array<[string, string]>
  release: string | null
  seqReset: boolean
  oos: boolean
  incomplete: boolean
  lostBefore: number
}

export interface TestDaemon {
  daemon: Daemon
  port: number
  /** Lines the collect module wrote so far (all workers). */
  collected: () => Collected[]
  exited: () => boolean
  stop: () => Promise<void>
}

/**
 * Starts a daemon on an ephemeral port with the collect module as its only output. The module
 * writes to a file named by COLLECT_OUT, which worker threads inherit from this process's env.
 */
export async function startTestDaemon (o: { overrides?: Record<string, unknown>, config?: Config, extra?: Partial<DaemonOptions>, modules?: string[], receivePath?: 'native' | 'js' } = {}): Promise<TestDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-test-'))
  const out = join(dir, 'collected.jsonl')
  process.env.COLLECT_OUT = out
  const config = o.config ?? await loadConfig({
    env: process.env,
    source: { value: { version: 1, sinks: {}, rules: [] }, dir: process.cwd(), name: '<test>' },
    overrides: { listen: { address: '::', port: 0 }, workers: { count: 2 }, ...o.overrides, modules: o.modules ?? [collectModule] }
  })
  const daemon = new Daemon({ config, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), statsIntervalMs: 200, receivePath: o.receivePath ?? 'js', ...o.extra })
  await daemon.start()
  let stopped = false
  // Workers append while the test reads: a trailing line without its newline is not complete yet.
  const read = (): string[] => {
    if (!existsSync(out)) return []
    const lines = readFileSync(out, 'utf8').split('\n')
    lines.pop()
    return lines.filter((l) => l !== '')
  }
  return {
    daemon,
    port: daemon.port,
    collected: () => read().map((l) => JSON.parse(l)).filter((r) => r.exit === undefined) as Collected[],
    exited: () => read().some((l) => l.includes('"exit":true')),
    stop: async () => { if (!stopped) { stopped = true; await daemon.stop() } }
  }
}

/** Sends datagrams from one socket (one simulated host) to 127.0.0.1:port, pacing every `burst` packets. */
export async function sendDatagrams (port: number, payloads: Buffer[], o: { from?: string, target?: string, burst?: number } = {}): Promise<void> {
  const v6 = o.from !== undefined && o.from.includes(':')
  const s = dgram.createSocket(v6 ? 'udp6' : 'udp4')
  s.bind({ address: o.from ?? '127.0.0.1', port: 0 })
  await once(s, 'listening')
  const target = o.target ?? (v6 ? '::1' : '127.0.0.1')
  let i = 0
  for (const p of payloads) {
    await new Promise<void>((resolve, reject) => s.send(p, port, target, (err) => { if (err !== null) reject(err); else resolve() }))
    if (++i % (o.burst ?? 200) === 0) await new Promise((resolve) => setTimeout(resolve, 2))
  }
  await new Promise<void>((resolve) => s.close(() => resolve()))
}

/** Polls `cond` until it holds or `ms` pass (for cross-thread results; never asserts timing). */
export async function waitFor (cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The datagrams of a kernel capture (test/fixtures/kernel/NAME/payloads.jsonl), in arrival order. */
export function fixturePayloads (name: string): Buffer[] {
  return readFileSync(join(fixturesDir, 'kernel', name, 'payloads.jsonl'), 'utf8').split('\n').filter((l) => l !== '')
    .map((l) => Buffer.from((JSON.parse(l) as { b64: string }).b64, 'base64'))
}
