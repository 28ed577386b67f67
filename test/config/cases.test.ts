// The generic route-case runner: every test/fixtures/routes/*.cases.json5 and routes/*.cases.json5.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCasesFile, formatCasesRun } from '../../src/config/cases.js'
import { fixturesDir, repoRoot } from '../helpers/paths.js'

const files = [
  ...readdirSync(join(fixturesDir, 'routes')).filter((f) => f.endsWith('.cases.json5')).map((f) => join(fixturesDir, 'routes', f)),
  ...readdirSync(join(repoRoot, 'routes')).filter((f) => f.endsWith('.cases.json5')).map((f) => join(repoRoot, 'routes', f))
].sort()

test('there are route case files to run', () => {
  assert.ok(files.some((f) => f.includes('matchers.cases.json5')))
  assert.ok(files.some((f) => f.includes('kernel-classify.cases.json5')))
})

for (const file of files) {
  test(`route cases: ${file.slice(repoRoot.length + 1)}`, async () => {
    const run = await runCasesFile(file, { env: {} })
    assert.ok(run.results.length > 0)
    const failed = run.results.filter((r) => !r.ok)
    assert.equal(failed.length, 0, formatCasesRun(run))
  })
}

test('a failing case explains itself: expected vs delivered, matched rules, line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netconsd-cases-'))
  try {
    await writeFile(join(dir, 'p.json5'), "{ rules: [{ id: 'errs', match: { level: '<=err' }, to: ['pager'] }, { id: 'all', to: ['archive'] }] }")
    await writeFile(join(dir, 'p.cases.json5'), `{
  cases: [
    { name: 'right', input: { level: 'err' }, expect: ['pager', 'archive'] },
    { name: 'wrong', input: { level: 'info', text: 'disk on fire' }, expect: ['pager'], rules: ['errs'] },
    { name: 'asserts nothing', input: {} },
  ],
}`)
    const run = await runCasesFile(join(dir, 'p.cases.json5'), { env: {} })
    assert.deepEqual(run.results.map((r) => r.ok), [true, false, false])
    const wrong = run.results[1]!
    assert.equal(wrong.line, 4)
    assert.deepEqual(wrong.records[0]!.trace.rules, ['all'])
    const text = formatCasesRun(run, dir)
    assert.match(text, /FAIL {2}p\.cases\.json5:4 wrong/)
    assert.match(text, /- pager {2}expected, not delivered/)
    assert.match(text, /\+ archive {2}delivered, not expected/)
    assert.match(text, /rules: expected \[errs\], matched \[all\]/)
    assert.match(text, /asserts nothing/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('invalid cases file: NETCONSD_ERR_CONFIG_INVALID with paths', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netconsd-cases-'))
  try {
    await writeFile(join(dir, 'x.cases.json5'), "{ include: [], cases: [{ name: 'a', input: { txt: 'x' }, expct: [] }] }")
    await assert.rejects(runCasesFile(join(dir, 'x.cases.json5'), { env: {} }), (err: { code: string, errors: Array<{ path: string }> }) => {
      assert.equal(err.code, 'NETCONSD_ERR_CONFIG_INVALID')
      assert.deepEqual(err.errors.map((e) => e.path).sort(), ['cases[0].expct', 'cases[0].input.txt'])
      return true
    })
    await writeFile(join(dir, 'lonely.cases.json5'), "{ cases: [{ name: 'a', input: {}, expect: [] }] }")
    await assert.rejects(runCasesFile(join(dir, 'lonely.cases.json5'), { env: {} }), { code: 'NETCONSD_ERR_CONFIG_INVALID' })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
