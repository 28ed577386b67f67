/**
 * deploy/INSTALL.md's config step, followed literally with /etc/netconsd replaced by an empty
 * directory: the example config, copied with the packs the doc says to copy, passes check-config.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliPath, repoRoot } from '../helpers/paths.js'

test('INSTALL.md step 3: the example config copied as written validates where it lands', (t) => {
  const etc = mkdtempSync(join(tmpdir(), 'netconsd-etc-'))
  t.after(() => rmSync(etc, { recursive: true, force: true }))
  const doc = readFileSync(join(repoRoot, 'deploy', 'INSTALL.md'), 'utf8')
  const step = /# 3\. Config[^\n]*\n((?:#[^\n]*\n)*)((?:sudo install[^\n]*\n)+)/.exec(doc)
  assert.ok(step, 'INSTALL.md has a step 3 of install commands')
  for (const line of step[2]!.trim().split('\n')) {
    // Run each command as written, minus sudo and the group (no netconsd user here).
    const cmd = line.replace(/sudo /g, '').replace(/ -g netconsd/g, '').replaceAll('/etc/netconsd', etc)
    execFileSync('sh', ['-c', cmd], { cwd: repoRoot })
  }
  const r = spawnSync(process.execPath, [cliPath, 'check-config', join(etc, 'config.json5'), '--no-health'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stdout + r.stderr)
})

test('the example config copied alone: check-config says where the shipped packs are and what to do', (t) => {
  const etc = mkdtempSync(join(tmpdir(), 'netconsd-etc-'))
  t.after(() => rmSync(etc, { recursive: true, force: true }))
  execFileSync('cp', [join(repoRoot, 'config.example.json5'), join(etc, 'config.json5')])
  const r = spawnSync(process.execPath, [cliPath, 'check-config', join(etc, 'config.json5'), '--no-health'], { encoding: 'utf8' })
  assert.equal(r.status, 1)
  assert.ok(r.stderr.includes(`the packs shipped with netconsd are in ${join(repoRoot, 'routes')}/: copy that directory beside the config`), r.stderr)
})
