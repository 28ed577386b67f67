#!/usr/bin/env node
// Builds the native receive addon (native/ → native/build/Release/netconsd_recv.node) with node-gyp.
// Runs as the package's `install` script, so it must NEVER fail the install: on any problem it
// prints one notice and exits 0, and the daemon uses the JS receive path (logged at start-up).
//
// Offline-friendly: node-gyp needs Node's headers. It is pointed at the ones installed with Node
// (<prefix>/include/node, e.g. /usr/include/node from distro packages) or npm's `nodedir` setting,
// so no header download is attempted when they exist.
//
// Env: NETCONSD_SKIP_NATIVE=1 skips the build.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { homedir } from 'node:os'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const nativeDir = join(root, 'native')
const out = join(nativeDir, 'build', 'Release', 'netconsd_recv.node')

function notice (msg) {
  console.error(`netconsd: ${msg}`)
}

function skip (why) {
  notice(`native receive addon not built (${why}); the daemon will use the JS receive path. ` +
    'See docs/native.md.')
  process.exit(0)
}

if (process.env.NETCONSD_SKIP_NATIVE === '1') skip('NETCONSD_SKIP_NATIVE=1')
if (process.platform !== 'linux') skip(`recvmmsg and SO_REUSEPORT steering are Linux-only; this is ${process.platform}`)
if (!existsSync(join(nativeDir, 'binding.gyp'))) skip('native/binding.gyp is missing')

function findNodeGyp () {
  const candidates = [
    process.env.npm_config_node_gyp, // set by npm for install scripts: its bundled node-gyp
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
  ]
  for (const c of candidates) if (c !== undefined && c !== '' && existsSync(c)) return c
  return null
}

function findNodeDir () {
  const fromNpm = process.env.npm_config_nodedir
  if (fromNpm !== undefined && fromNpm !== '' && existsSync(join(fromNpm, 'include', 'node', 'node_api.h'))) return fromNpm
  const prefix = join(dirname(process.execPath), '..')
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h')) && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) return prefix
  return null // node-gyp looks in its cache (~/.cache/node-gyp) and downloads as a last resort
}

const gyp = findNodeGyp()
if (gyp === null) skip('node-gyp not found (it ships with npm)')
const nodedir = findNodeDir()
if (nodedir === null && !existsSync(join(homedir(), '.cache', 'node-gyp', process.versions.node, 'include', 'node', 'node_api.h'))) {
  notice('Node headers not found locally; node-gyp will try to download them.')
}

const args = [gyp, 'rebuild', `--directory=${nativeDir}`]
if (nodedir !== null) args.push(`--nodedir=${nodedir}`)
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 300_000 })
if (r.status !== 0 || !existsSync(out)) {
  const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').filter((l) => !l.startsWith('gyp info')).slice(-15).join('\n')
  if (tail !== '') console.error(tail)
  skip(r.error !== undefined ? r.error.message : `node-gyp exited with ${r.status ?? r.signal}`)
}

// Load it once in a child process: a binary that builds but cannot load (wrong libc, missing
// symbol) is as good as none, and the daemon should not find that out at start-up.
const check = spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(out)}); if (typeof m.open !== 'function') process.exit(2)`], { encoding: 'utf8' })
if (check.status !== 0) skip(`built, but it does not load: ${(check.stderr ?? '').trim().split('\n')[0]}`)
notice(`native receive addon built: ${out}`)
