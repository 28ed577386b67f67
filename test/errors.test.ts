import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ERROR_CODES, NetconsdError, serializeError, deserializeError, type ErrorCode } from '../src/errors.js'
import { repoRoot } from './helpers/paths.js'

test('every error code survives the trip across a worker boundary with its code, class and fields', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const err = new NetconsdError(code, 'Something went wrong.', { path: '/etc/x', n: 3 })
    assert.ok(err instanceof NetconsdError)
    assert.equal(err.code, code)
    const back = deserializeError(structuredClone(serializeError(err)))
    assert.ok(back instanceof NetconsdError, code)
    assert.equal(back.code, code)
    assert.equal(back.path, '/etc/x')
    assert.equal(back.n, 3)
    assert.equal(back.message, 'Something went wrong.')
  }
  const plain = deserializeError(serializeError(Object.assign(new Error('x'), { code: 'ENOSPC' })))
  assert.equal((plain as NodeJS.ErrnoException).code, 'ENOSPC')
})

test('the README error table lists exactly the codes of src/errors.ts', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Errors'))
  const documented = new Set([...section.matchAll(/^\| `(NETCONSD_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]!))
  assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort())
})
