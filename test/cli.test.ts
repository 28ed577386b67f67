import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseRunArgs } from '../src/cli.js'

test('netconsd flags map onto config overrides', () => {
  const a = parseRunArgs(['-w', '4', '-l', '2', '-b', '64', '-a', '10.1.2.3', '-u', '5140', '-g', '1000/60000', 'mod.mjs'])
  assert.ok(typeof a === 'object')
  assert.deepEqual(a.overrides, {
    listen: { listeners: 2, port: 5140, address: '10.1.2.3' },
    workers: { count: 4, batchSize: 64 },
    ncrx: { gcIntervalMs: 1000, gcAgeMs: 60000 }
  })
  assert.equal(a.modules.length, 1)
  assert.match(a.modules[0]!, /\/mod\.mjs$/)
  const p = parseRunArgs(['-p', '9999'])
  assert.ok(typeof p === 'object')
  assert.equal(p.overrides.listen.port, 9999)
  assert.equal(parseRunArgs(['--help']), 'help')
})

test('bad flags are refused with NETCONSD_ERR_CLI_USAGE naming the flag', () => {
  const bad: Array<[string[], string]> = [
    [['-w', '0'], '-w'],
    [['-w', 'two'], '-w'],
    [['-w', '-3'], 'argv'],
    [['-u', '70000'], '-u/-p'],
    [['-g', '1000'], '-g'],
    [['-g', '5000/1000'], '-g'],
    [['-a', 'example.com'], '-a'],
    [['--receive-path', 'fast'], '--receive-path'],
    [['--bogus'], 'argv']
  ]
  for (const [argv, field] of bad) {
    assert.throws(() => parseRunArgs(argv), (err: any) => err.code === 'NETCONSD_ERR_CLI_USAGE' && err.field === field, argv.join(' '))
  }
})
