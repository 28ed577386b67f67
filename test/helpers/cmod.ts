/** Compiling the project's own small C output modules (test/fixtures/modules/c) for the tests. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fixturesDir, repoRoot } from './paths.js'
import { loadCmodAddon } from '../../src/sinks/module/native.js'

const outDir = mkdtempSync(join(tmpdir(), 'netconsd-cmod-'))

/** Why C module tests cannot run here (no compiler, no addon), or null when they can. */
export function cmodSkipReason (): string | null {
  const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' })
  if (cc.error !== undefined || cc.status !== 0) return 'no C compiler (cc) on this machine'
  const { addon, reason } = loadCmodAddon()
  if (addon === null) return process.env.NETCONSD_REQUIRE_NATIVE === '1' ? null : reason
  return null
}

/** Builds test/fixtures/modules/c/NAME.c into a shared object; returns its path. */
export function compileModule (name: string, out = join(outDir, `${name}.so`)): string {
  const r = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-I', join(repoRoot, 'native'),
    '-o', out, join(fixturesDir, 'modules', 'c', `${name}.c`)], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`cc ${name}.c failed: ${r.stderr}`)
  return out
}
