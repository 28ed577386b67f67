/**
 * A real Prometheus Alertmanager for tests (Debian's prometheus-alertmanager, installed by
 * `.ci/run`): started on a free loopback port with a minimal config (one receiver that notifies
 * nobody), its storage in a tmp dir and clustering off (`--cluster.listen-address=` empty, or it
 * would bind 0.0.0.0:9094). Alerts are read back with the real `amtool`, not our own HTTP code.
 *
 *   const am = await startAlertmanager()
 *   if (am === null) return t.skip('prometheus-alertmanager not installed')
 *   ... POST to `${am.url}/api/v2/alerts` ...
 *   const alerts = am.query('alertname=KernelOops')
 *   await am.stop()
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freeTcpPort } from './rsyslog.js'

/** An alert as `amtool alert query -o json` prints it (Alertmanager's API v2 gettableAlert). */
export interface AmtoolAlert {
  labels: Record<string, string>
  annotations: Record<string, string>
  startsAt: string
  endsAt: string
  generatorURL?: string
  fingerprint: string
  status: { state: string, silencedBy: string[], inhibitedBy: string[] }
}

export interface Alertmanager {
  url: string
  dir: string
  /** `amtool alert query -o json <matchers...>`: active alerts matching. */
  query: (...matchers: string[]) => AmtoolAlert[]
  log: () => string
  stop: () => Promise<void>
}

function onPath (names: string[]): string | null {
  for (const n of names) {
    const r = spawnSync('sh', ['-c', `command -v ${n}`], { encoding: 'utf8' })
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim()
  }
  return null
}

/** Debian names the binary prometheus-alertmanager; upstream tarballs call it alertmanager. */
export function alertmanagerPaths (): { alertmanager: string, amtool: string } | null {
  const alertmanager = onPath(['prometheus-alertmanager', 'alertmanager'])
  const amtool = onPath(['amtool'])
  return alertmanager === null || amtool === null ? null : { alertmanager, amtool }
}

const CONFIG = `# Minimal: every alert goes to a receiver that notifies nobody.
route:
  receiver: 'null'
  group_wait: 1s
receivers:
  - name: 'null'
`

/** Starts Alertmanager, or returns null when it or amtool is not installed (the caller skips). */
export async function startAlertmanager (): Promise<Alertmanager | null> {
  const bins = alertmanagerPaths()
  if (bins === null) return null
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-alertmanager-'))
  writeFileSync(join(dir, 'alertmanager.yml'), CONFIG)
  const port = await freeTcpPort()
  const url = `http://127.0.0.1:${port}`
  let log = ''
  const child: ChildProcess = spawn(bins.alertmanager, [
    `--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=debug'
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { log += d })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { log += d })
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const end = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) { await stop(); throw new Error(`alertmanager exited with ${child.exitCode}: ${log}`) }
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)
    if (ready) break
    if (Date.now() > end) { await stop(); throw new Error(`alertmanager not ready after 15 s: ${log}`) }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    url,
    dir,
    query: (...matchers) => {
      const r = spawnSync(bins.amtool, [`--alertmanager.url=${url}`, 'alert', 'query', '-o', 'json', ...matchers], { encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`amtool alert query failed (${r.status}): ${r.stderr}`)
      return JSON.parse(r.stdout) as AmtoolAlert[]
    },
    log: () => log,
    stop
  }
}
