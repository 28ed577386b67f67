import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { expandPath, resolveFileOptions, safeComponent, staticDir } from '../../../src/sinks/file/options.js'
import { makeTestRecord } from '../conformance.js'
import { repoRoot } from '../../helpers/paths.js'

function code (fn: () => unknown): string | undefined {
  try { fn() } catch (err) { return (err as { code?: string }).code }
  return undefined
}

describe('file sink options', () => {
  it('defaults; relative paths resolve from the config dir', () => {
    const o = resolveFileOptions({ path: 'logs/{host}.log' }, 's', '/etc/netconsd', 4)
    assert.equal(o.path, '/etc/netconsd/logs/{host}.log')
    assert.equal(o.format, 'text')
    assert.equal(o.fileMode, 0o640)
    assert.equal(o.maxFiles, 10)
    assert.equal(o.compress, true)
    assert.equal(o.sharedFile, false)
  })

  it('a shared file (several workers, no per-writer placeholder) cannot be rotated by netconsd', () => {
    assert.equal(resolveFileOptions({ path: '/l/all.log' }, 's', '/', 4).sharedFile, true)
    assert.equal(code(() => resolveFileOptions({ path: '/l/all.log', maxFileBytes: 1000 }, 's', '/', 4)), 'NETCONSD_ERR_SINK_OPTIONS')
    assert.equal(code(() => resolveFileOptions({ path: '/l/all.log', rotateIntervalMs: 1000 }, 's', '/', 2)), 'NETCONSD_ERR_SINK_OPTIONS')
    assert.equal(resolveFileOptions({ path: '/l/all.log', maxFileBytes: 1000 }, 's', '/', 1).sharedFile, false)
    assert.equal(resolveFileOptions({ path: '/l/all-{thread}.log', maxFileBytes: 1000 }, 's', '/', 4).sharedFile, false)
  })

  it('unknown placeholders and bad modes are errors that name the field', () => {
    try {
      resolveFileOptions({ path: '/l/{hostname}.log' }, 'files', '/', 1)
      assert.fail('should throw')
    } catch (err) {
      assert.equal((err as { code: string }).code, 'NETCONSD_ERR_SINK_OPTIONS')
      assert.equal((err as { field: string }).field, 'path')
    }
    assert.equal(code(() => resolveFileOptions({ path: '/l/x.log', fileMode: '999' }, 's', '/', 1)), 'NETCONSD_ERR_SINK_OPTIONS')
  })

  it('expands placeholders; untrusted names cannot leave the directory', () => {
    const rec = makeTestRecord({ host: { name: '../../etc/passwd', address: '::ffff:10.0.0.1', labels: {} } })
    assert.equal(expandPath('/l/{host}.log', rec, 3, 'f'), '/l/_._.._etc_passwd.log')
    assert.equal(expandPath('/l/{address}-{thread}-{sink}.log', rec, 3, 'f'), '/l/10.0.0.1-3-f.log')
    assert.equal(safeComponent('..'), '_.')
    assert.equal(safeComponent(''), 'unknown')
    assert.equal(safeComponent('web-1.example.com'), 'web-1.example.com')
    const v6 = makeTestRecord({ host: { name: '2001:db8::1', address: '2001:db8::1', labels: {} } })
    assert.equal(expandPath('/l/{host}.log', v6, 0, 'f'), '/l/2001:db8::1.log')
  })

  it('staticDir: the directory before the first placeholder', () => {
    assert.equal(staticDir('/var/log/netcons/{host}.log'), '/var/log/netcons')
    assert.equal(staticDir('/var/log/netcons/{host}/kern.log'), '/var/log/netcons')
    assert.equal(staticDir('/var/log/all.log'), '/var/log')
  })

  it('schema: accepts a full example, rejects unknown keys', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false })
    const validate = ajv.compile(JSON.parse(readFileSync(join(repoRoot, 'schemas/sinks/file.schema.json'), 'utf8')))
    const good = { type: 'file', path: '/var/log/netcons/{host}.log', format: 'json', maxFileBytes: 104857600, rotateIntervalMs: 86400000, maxFiles: 7, maxAgeDays: 30, compress: true, fileMode: '0640' }
    assert.equal(validate(good), true, JSON.stringify(validate.errors))
    assert.equal(validate({ ...good, rotate: 'daily' }), false)
    assert.equal(validate({ ...good, fileMode: 'rw' }), false)
    assert.equal(validate({ type: 'file' }), false)
  })
})
