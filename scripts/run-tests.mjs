#!/usr/bin/env node
// Runs every compiled test file under dist/test with node's test runner.
// Node 20's `node --test` does not expand globs, so the file list is built here.
// Usage: node scripts/run-tests.mjs [substring-filter ...]
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

function walk (dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (name.endsWith('.test.js')) out.push(p)
  }
  return out
}

const filters = process.argv.slice(2)
let files = walk('dist/test', []).sort()
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)))
if (files.length === 0) {
  console.error('run-tests: no test files found under dist/test (did tsc run?)')
  process.exit(1)
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' })
process.exit(r.status ?? 1)
