import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { repoRoot } from '../../helpers/paths.js'

// In a child: the sink writes to fd 1, which is the test runner's own channel here.
test('stdout sink, printer format: host events are not printed (netconsd\'s printer never prints them); json keeps them', () => {
  const script = `
    import { createStdoutSink } from ${JSON.stringify(join(repoRoot, 'dist/src/sinks/stdout/index.js'))}
    import { makeTestRecord } from ${JSON.stringify(join(repoRoot, 'dist/test/sinks/conformance.js'))}
    const ev = makeTestRecord({ kind: 'event', text: 'New host seen.', seqReset: true, event: { type: 'new_host' } })
    const log = makeTestRecord({ text: 'hello' })
    for (const format of ['printer', 'json']) {
      const sink = await createStdoutSink({ format }, {})
      sink.write(ev); sink.write(log)
      await sink.close()
    }
  `
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.equal(lines.length, 3)
  assert.doesNotMatch(lines[0]!, /New host seen|SEQ RESET/)
  assert.match(lines[0]!, /hello/)
  assert.equal(JSON.parse(lines[1]!).kind, 'event')
})
