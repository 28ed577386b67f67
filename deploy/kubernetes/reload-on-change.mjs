#!/usr/bin/env node
// Config reload sidecar: watches the mounted ConfigMap file and sends SIGHUP to netconsd when
// its content changes, so a config change is applied without restarting the pod (ncrx windows,
// incident grouping and the disk buffer are kept). Kubernetes updates a ConfigMap volume by
// swapping a `..data` symlink, so the file's content is compared, not inotify events.
//
// Needs `shareProcessNamespace: true` in the pod and the same UID as netconsd (it only signals
// its own user's processes; no capability is needed).
//
//   node reload-on-change.mjs FILE [MATCH] [INTERVAL_MS]
//     FILE         the config file as mounted, e.g. /etc/netconsd/config.json5
//     MATCH        a substring of the daemon's command line (default: dist/src/cli.js)
//     INTERVAL_MS  poll period (default 5000)
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export function digest (file) {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex')
  } catch {
    return null
  }
}

/** PIDs (other than ours) whose command line contains `match`, from /proc. */
export function findPids (match, procRoot = '/proc') {
  const pids = []
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      const cmd = readFileSync(`${procRoot}/${name}/cmdline`, 'latin1').split('\0').join(' ')
      if (cmd.includes(match) && !cmd.includes('reload-on-change')) pids.push(Number(name))
    } catch { /* exited meanwhile */ }
  }
  return pids
}

function jsonLine (msg, fields = {}) {
  process.stdout.write(JSON.stringify({ time: Date.now(), name: 'netconsd-reload', msg, ...fields }) + '\n')
}

/** Polls `file`; on a content change signals every matching process. Returns a stop function. */
export function watch ({ file, match = 'dist/src/cli.js', intervalMs = 5000, signal = 'SIGHUP', log = jsonLine }) {
  let last = digest(file)
  log('Watching config.', { file, match, intervalMs })
  const timer = setInterval(() => {
    const now = digest(file)
    if (now === null || now === last) return // missing mid-swap, or unchanged
    last = now
    const pids = findPids(match)
    for (const pid of pids) {
      try {
        process.kill(pid, signal)
        log('Config changed; signalled netconsd.', { pid, signal })
      } catch (err) {
        log('Could not signal netconsd.', { pid, error: String(err) })
      }
    }
    if (pids.length === 0) log('Config changed but no netconsd process found; is shareProcessNamespace on?', { match })
  }, intervalMs)
  return () => clearInterval(timer)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, match, interval] = process.argv.slice(2)
  if (file === undefined) {
    process.stderr.write('usage: reload-on-change.mjs FILE [MATCH] [INTERVAL_MS]\n')
    process.exit(2)
  }
  const stop = watch({ file, match: match ?? 'dist/src/cli.js', intervalMs: Number(interval ?? 5000) })
  for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => { stop(); process.exit(0) })
}
