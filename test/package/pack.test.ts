/**
 * The package as a user gets it: `npm pack`, installed into an empty directory (no dev
 * dependencies), imported as a library and started from `npx netconsd` in a terminal and a pipe.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../helpers/paths.js'

interface PackFile { path: string }

// --ignore-scripts: pack what `tsc` already built; `prepare` would rebuild dist/ under the other tests.
function packList (): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8' })
  return (JSON.parse(out) as Array<{ files: PackFile[] }>)[0]!.files.map((f) => f.path)
}

test('the tarball: no build leftovers, maps resolve, LICENSE and linked docs are in it', () => {
  const files = packList()
  const set = new Set(files)
  assert.deepEqual(files.filter((f) => f.startsWith('native/build') || f.endsWith('.node') || f.endsWith('.o') || /(^|\/)Makefile$/.test(f)), [])
  assert.ok(set.has('LICENSE'))
  // What `npm install` compiles (every source of every addon target) and the C module header.
  const gyp = JSON.parse(readFileSync(join(repoRoot, 'native/binding.gyp'), 'utf8')) as { targets: Array<{ sources: string[] }> }
  for (const src of gyp.targets.flatMap((t) => t.sources)) assert.ok(set.has(`native/${src}`), `binding.gyp compiles native/${src}, not packed`)
  assert.ok(set.has('native/netconsd-module.h'), 'the C module API header is packed')
  assert.match(readFileSync(join(repoRoot, 'LICENSE'), 'utf8'), /MIT License/)
  assert.ok(set.has('dist/src/index.js') && set.has('dist/src/index.d.ts'), 'the library entry is packed')
  for (const f of files.filter((p) => p.endsWith('.js.map'))) {
    const map = JSON.parse(readFileSync(join(repoRoot, f), 'utf8')) as { sources: string[] }
    for (const s of map.sources) {
      const target = join(f, '..', s).replace(/\\/g, '/')
      assert.ok(set.has(target), `${f} points at ${target}, which is not packed`)
    }
  }
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  for (const m of readme.matchAll(/\]\(((?:docs|deploy)\/[^)#\s]+)/g)) assert.ok(set.has(m[1]!), `README links ${m[1]!}, not packed`)
  for (const m of readme.matchAll(/`(deploy\/[\w./-]+\.\w+)`/g)) assert.ok(set.has(m[1]!), `README names ${m[1]!}, not packed`)
})

test('prepare (run by npm ci) fails on type errors: it is the build, nothing swallows its exit status', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  assert.equal(pkg.scripts.prepare, 'tsc -p .')
})

test('npm pack → install into an empty directory → import, types, npx netconsd in a terminal and a pipe', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-pack-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], { cwd: repoRoot, stdio: 'ignore' })
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }))
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', './netconsd-0.1.0.tgz'], {
    cwd: dir, encoding: 'utf8', env: { ...process.env, NETCONSD_SKIP_NATIVE: '1' }, timeout: 120_000
  })
  if (install.status !== 0) {
    t.skip(`npm install of the tarball failed (offline and no npm cache?): ${install.stderr.trim().split('\n').pop() ?? ''}`)
    return
  }
  assert.equal(existsSync(join(dir, 'node_modules', 'typescript')), false, 'a dev dependency leaked into the install')

  // The library entry, and the example config validating where npm put it.
  writeFileSync(join(dir, 'use.mjs'), `
    import { Daemon, Pipeline, loadConfig, NetconsdError, createLogger } from 'netconsd'
    const config = await loadConfig({ file: 'node_modules/netconsd/config.example.json5' })
    console.log(JSON.stringify({ daemon: typeof Daemon, pipeline: typeof Pipeline, err: typeof NetconsdError, log: typeof createLogger, sinks: Object.keys(config.sinks) }))
  `)
  const used = spawnSync(process.execPath, ['use.mjs'], { cwd: dir, encoding: 'utf8' })
  assert.equal(used.status, 0, used.stderr)
  assert.deepEqual(JSON.parse(used.stdout), { daemon: 'function', pipeline: 'function', err: 'function', log: 'function', sinks: ['stdout'] })

  // Typed: a consumer's TypeScript resolves the types through the exports map.
  writeFileSync(join(dir, 'sink.ts'), `
    import type { Sink, SinkFactory, NetconsRecord, Config } from 'netconsd'
    export const factory: SinkFactory<{ prefix: string }> = (o, ctx) => {
      let sent = 0
      const sink: Sink = {
        write (r: NetconsRecord) { sent++; ctx.logger.debug(o.prefix + ctx.sinkId + r.text) },
        async flush () {},
        async close () {},
        stats: () => ({ sent, failed: 0, retried: 0, dropped: {}, queueDepth: 0 })
      }
      return sink
    }
    export const port = (c: Config): number => c.listen.port
  `)
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: [], skipLibCheck: true }, files: ['sink.ts'] }))
  const tsc = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd: dir, encoding: 'utf8' })
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr)

  // In a pipe: JSON log lines on stderr, clean exit on SIGINT.
  const piped = await runUntilListening(['npx', '--no-install', 'netconsd', '-u', '0'], dir)
  // npx itself dies of the SIGINT; the daemon under it stops gracefully.
  assert.match(piped.out, /^\{"level":30.*"msg":"Signal SIGINT: stopping\."/m, piped.out)
  assert.doesNotMatch(piped.out, /error|unable|cannot/i)

  // In a terminal (script(1) gives it a pty): the built-in pretty log.
  if (spawnSync('script', ['--version']).status !== 0) { t.diagnostic('script(1) not installed: terminal case not run'); return }
  const tty = await runUntilListening(['script', '-qec', 'npx --no-install netconsd -u 0', '/dev/null'], dir)
  assert.match(tty.out, /INFO.*: Listening\./)
  assert.match(tty.out, /Signal SIGINT: stopping\./, 'the daemon in the terminal stopped on ^C')
  assert.doesNotMatch(tty.out, /"level":/)
  assert.doesNotMatch(tty.out, /error|unable|cannot/i)
})

async function runUntilListening (cmd: string[], cwd: string): Promise<{ code: number | null, out: string }> {
  // Its own process group, signalled as a whole as a terminal's ^C is: npx does not pass a
  // signal on to the daemon it started.
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd, detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
  const group = (sig: NodeJS.Signals): void => { try { process.kill(-child.pid!, sig) } catch {} }
  let out = ''
  let sent = false
  const onData = (b: Buffer): void => {
    out += b.toString()
    if (!sent && /Listening/.test(out)) {
      sent = true
      // script(1) runs the command in a session of its own on the pty: ^C typed into the pty reaches
      // it, as a user's keyboard would; a signal to script's group would not.
      if (cmd[0] === 'script') child.stdin.write('\x03')
      else group('SIGINT')
    }
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const timer = setTimeout(() => group('SIGKILL'), 30_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  return { code, out }
}
