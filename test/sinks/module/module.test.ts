import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { pino } from 'pino'
import { createModuleSink } from '../../../src/sinks/module/index.js'
import { rec } from '../../helpers/records.js'
import { fixturesDir } from '../../helpers/paths.js'

const modDir = join(fixturesDir, 'modules')
const ctx = { sinkId: 'm', thread: 1, workerCount: 3, logger: pino({ level: 'silent' }), configDir: modDir }

test('an ES module gets init(workerCount), handler with msg xor buf, and exit', async () => {
  const sink = await createModuleSink({ path: 'good.mjs' }, ctx)
  sink.write(rec())
  sink.write(rec({ format: 'legacy', seq: null, text: 'legacy line\n' }))
  sink.write(rec({ kind: 'incident', text: 'Oops' }))
  await sink.close()
  await sink.close()
  const seen = (globalThis as any).__goodModuleSeen
  assert.deepEqual(seen.init, [3])
  assert.deepEqual(seen.calls, [
    { thread: 1, src: '::ffff:10.0.0.1', buf: false, msg: true, text: 'hello' },
    { thread: 1, src: '::ffff:10.0.0.1', buf: true, msg: false, text: 'legacy line\n' }
  ])
  assert.equal(seen.exit, 1, 'exit runs once even when close is called twice')
})

test('a CommonJS module loads through its default export', async () => {
  const sink = await createModuleSink({ path: join(modDir, 'good.cjs') }, ctx)
  sink.write(rec()); sink.write(rec())
  await sink.close()
  assert.equal((globalThis as any).__cjsModuleCount, 2)
})

test('modules that cannot be used fail with a code naming the file', async () => {
  const cases: Array<[string, string]> = [
    ['missing.mjs', 'NETCONSD_ERR_MODULE_LOAD'],
    ['no-handler.mjs', 'NETCONSD_ERR_MODULE_LOAD'],
    ['syntax-error.mjs', 'NETCONSD_ERR_MODULE_LOAD'],
    ['init-throws.mjs', 'NETCONSD_ERR_MODULE_INIT']
  ]
  for (const [file, code] of cases) {
    await assert.rejects(async () => await createModuleSink({ path: file }, ctx), (err: any) => {
      assert.equal(err.code, code, file)
      assert.equal(err.path, join(modDir, file))
      return true
    })
  }
})

test('a handler that throws is counted and does not stop later records', async () => {
  const sink = await createModuleSink({ path: 'handler-throws.mjs' }, ctx)
  sink.write(rec({ text: 'a' }))
  sink.write(rec({ text: 'boom' }))
  sink.write(rec({ text: 'c' }))
  const s = sink.stats!()
  assert.equal(s.sent, 2)
  assert.equal(s.failed, 1)
  await sink.close()
  assert.equal((globalThis as any).__throwingModuleCalls, 3)
})
