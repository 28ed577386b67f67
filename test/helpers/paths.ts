import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

/** Repository root (tests run from dist/test/..., fixtures stay in test/fixtures). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const fixturesDir = join(repoRoot, 'test', 'fixtures')
export const kernelFixturesDir = join(fixturesDir, 'kernel')
export const distDir = join(repoRoot, 'dist')
/** Path of the compiled CLI entry point. */
export const cliPath = join(repoRoot, 'dist', 'src', 'cli.js')
