import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync, copyFileSync, rmSync } from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { repoRoot } from '../helpers/paths.js'
import { loadConfig } from '../../src/config/load.js'
import { parseListen, isLoopback } from '../../src/metrics/server.js'

const deployDir = join(repoRoot, 'deploy')
const k8sDir = join(deployDir, 'kubernetes')

type Obj = Record<string, any>

function docs (file: string): Obj[] {
  const out: Obj[] = []
  for (const d of parseAllDocuments(readFileSync(join(k8sDir, file), 'utf8'))) {
    assert.deepEqual(d.errors, [], `${file}: YAML errors`)
    const v = d.toJS() as Obj | null
    if (v !== null) out.push(v)
  }
  return out
}

function one (file: string, kind: string): Obj {
  const found = docs(file).filter((d) => d.kind === kind)
  assert.equal(found.length, 1, `${file}: one ${kind}`)
  return found[0]!
}

function checkPodSpec (spec: Obj, where: string): void {
  assert.equal(spec.shareProcessNamespace, true, `${where}: the reload sidecar needs the daemon's PID`)
  assert.equal(spec.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`)
  assert.ok(spec.securityContext?.runAsUser > 0)
  assert.ok(spec.terminationGracePeriodSeconds >= 35, `${where}: time for a graceful drain`)
  const main = spec.containers.find((c: Obj) => c.name === 'netconsd')
  assert.ok(main, `${where}: netconsd container`)
  const udp = main.ports.find((p: Obj) => p.containerPort === 1514)
  assert.equal(udp?.protocol, 'UDP')
  const metricsPort = main.ports.find((p: Obj) => p.containerPort === 9514)
  assert.ok(metricsPort)
  const probePort = (p: Obj): unknown => p.httpGet.port
  assert.equal(main.livenessProbe.httpGet.path, '/healthz')
  assert.equal(main.readinessProbe.httpGet.path, '/readyz')
  assert.equal(main.startupProbe.httpGet.path, '/healthz')
  for (const p of [main.livenessProbe, main.readinessProbe, main.startupProbe]) {
    assert.ok([metricsPort.name, 9514].includes(probePort(p)), `${where}: probes hit the metrics port`)
  }
  for (const c of spec.containers as Obj[]) {
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}/${c.name}`)
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}/${c.name}`)
    assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where}/${c.name}`)
  }
  const reload = spec.containers.find((c: Obj) => c.name === 'config-reload')
  assert.ok(reload, `${where}: config reload sidecar`)
  assert.ok(reload.command.some((a: string) => a.endsWith('reload-on-change.mjs')))
  assert.ok(reload.command.includes('/etc/netconsd/config.json5'))
  assert.ok(main.args.includes('/etc/netconsd/config.json5'))
  const configVol = spec.volumes.find((v: Obj) => v.configMap !== undefined)
  assert.equal(configVol?.configMap.name, 'netconsd-config')
  for (const c of [main, reload]) {
    assert.ok(c.volumeMounts.some((m: Obj) => m.name === configVol.name && m.mountPath === '/etc/netconsd'), `${where}/${c.name} mounts the config`)
  }
}

test('every manifest parses; kustomization lists files that exist', () => {
  const files = readdirSync(k8sDir).filter((f) => f.endsWith('.yaml'))
  assert.ok(files.length >= 6)
  for (const f of files) for (const d of docs(f)) if (f !== 'kustomization.yaml') assert.ok(d.apiVersion && d.kind && d.metadata?.name, `${f}: apiVersion/kind/name`)
  const k = one('kustomization.yaml', 'Kustomization')
  for (const r of k.resources as string[]) assert.ok(existsSync(join(k8sDir, r)), r)
})

test('Deployment: probes on /healthz and /readyz, non-root, hardened, config from the ConfigMap with a reload sidecar', () => {
  const d = one('deployment.yaml', 'Deployment')
  assert.ok(d.spec.replicas >= 2)
  assert.deepEqual(d.spec.template.metadata.labels, d.spec.selector.matchLabels)
  checkPodSpec(d.spec.template.spec, 'deployment')
})

test('UDP Service preserves the sender address and keeps a host on one replica', () => {
  const svc = docs('service.yaml').find((s) => s.kind === 'Service' && s.spec.ports.some((p: Obj) => p.protocol === 'UDP'))!
  assert.equal(svc.spec.type, 'LoadBalancer')
  assert.equal(svc.spec.externalTrafficPolicy, 'Local')
  assert.equal(svc.spec.sessionAffinity, 'ClientIP')
  assert.ok(svc.spec.sessionAffinityConfig.clientIP.timeoutSeconds >= 3600)
  assert.deepEqual(svc.spec.ports.map((p: Obj) => [p.port, p.protocol]), [[1514, 'UDP']])
  const d = one('deployment.yaml', 'Deployment')
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(d.spec.template.metadata.labels[k], v, 'selector matches the pods')
})

test('hostNetwork DaemonSet variant', () => {
  const ds = one('daemonset-hostnetwork.yaml', 'DaemonSet')
  assert.equal(ds.spec.template.spec.hostNetwork, true)
  checkPodSpec(ds.spec.template.spec, 'daemonset')
})

test('the ConfigMap holds a valid config whose metrics endpoint is reachable by kubelet', async () => {
  const cm = one('configmap.yaml', 'ConfigMap')
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-cm-'))
  try {
    const file = join(dir, 'config.json5')
    writeFileSync(file, cm.data['config.json5'])
    const config = await loadConfig({ file })
    const listen = parseListen((config.metrics as { listen: string }).listen)
    assert.equal(isLoopback(listen.host), false, 'probes come from the node: not loopback')
    assert.equal(config.listen.port, 1514)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('kubectl kustomize renders the default set (skipped without kubectl)', (t) => {
  const r = spawnSync('kubectl', ['kustomize', k8sDir], { encoding: 'utf8', timeout: 30_000 })
  if (r.error !== undefined) { t.skip('kubectl not installed'); return }
  assert.equal(r.status, 0, r.stderr)
  const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as Obj).kind as string).sort()
  assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'Namespace', 'PodDisruptionBudget', 'Service', 'Service'])
})

/** systemd unit → { Section: { Key: [values] } } (keys may repeat). */
function parseUnit (text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {}
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const m = /^\[(.+)\]$/.exec(line)
    if (m !== null) { section = m[1]!; out[section] ??= {}; continue }
    const eq = line.indexOf('=')
    const k = line.slice(0, eq)
    ;(out[section]![k] ??= []).push(line.slice(eq + 1))
  }
  return out
}

test('systemd unit: dedicated user, sandboxed, no capabilities, ExecReload sends SIGHUP', () => {
  const unit = parseUnit(readFileSync(join(deployDir, 'systemd', 'netconsd.service'), 'utf8'))
  const s = unit.Service!
  const get = (k: string): string | undefined => s[k]?.at(-1)
  assert.equal(get('User'), 'netconsd')
  assert.equal(get('ProtectSystem'), 'strict')
  assert.equal(get('ProtectHome'), 'yes')
  assert.equal(get('PrivateTmp'), 'yes')
  assert.equal(get('NoNewPrivileges'), 'yes')
  assert.equal(get('CapabilityBoundingSet'), '')
  assert.equal(get('AmbientCapabilities'), '')
  assert.deepEqual(get('RestrictAddressFamilies')?.split(/\s+/).sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX'])
  assert.equal(get('SystemCallFilter'), '@system-service')
  assert.equal(get('StateDirectory'), 'netconsd')
  assert.equal(get('LogsDirectory'), 'netconsd')
  assert.equal(get('ExecReload'), '/bin/kill -HUP $MAINPID')
  assert.ok(Number(get('LimitNOFILE')) >= 65536)
  assert.notEqual(get('MemoryDenyWriteExecute'), 'yes', 'V8 needs W+X pages')
  assert.notEqual(get('ProcSubset'), 'pid', 'metrics read /proc/net')
  assert.match(get('ExecStart')!, /cli\.js --config \/etc\/netconsd\/config\.json5/)
  assert.equal(unit.Install?.WantedBy?.[0], 'multi-user.target')

  assert.match(readFileSync(join(deployDir, 'systemd', 'netconsd.sysusers'), 'utf8'), /^u netconsd - /m)
  const tmpfiles = readFileSync(join(deployDir, 'systemd', 'netconsd.tmpfiles'), 'utf8')
  assert.match(tmpfiles, /^d \/var\/lib\/netconsd\s+0750 netconsd netconsd/m)
  assert.match(readFileSync(join(deployDir, 'systemd', '60-netconsd.conf'), 'utf8'), /^net\.core\.rmem_max = \d+$/m)
})

test('systemd-analyze verify accepts the unit (skipped without systemd-analyze)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-unit-'))
  try {
    copyFileSync(join(deployDir, 'systemd', 'netconsd.service'), join(dir, 'netconsd.service'))
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'netconsd.service')], { encoding: 'utf8', timeout: 30_000 })
    if (r.error !== undefined) { t.skip('systemd-analyze not installed'); return }
    if (!existsSync('/usr/bin/node')) { t.skip('ExecStart=/usr/bin/node does not exist here'); return }
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stderr.trim(), '', 'no warnings')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('Dockerfile: multi-stage, LTS Node, slim runtime as a non-root user, UDP 1514 exposed', () => {
  const text = readFileSync(join(deployDir, 'Dockerfile'), 'utf8')
  const lines = text.split('\n').filter((l) => !l.startsWith('#'))
  const froms = lines.filter((l) => l.startsWith('FROM '))
  assert.ok(froms.length >= 2)
  assert.match(froms[0]!, / AS build$/)
  assert.match(froms.at(-1)!, /-slim$/)
  const nodeVersion = Number(/^ARG NODE_VERSION=(\d+)$/m.exec(text)?.[1])
  assert.ok(nodeVersion >= 20 && nodeVersion % 2 === 0, 'an LTS line')
  const finalStage = text.slice(text.lastIndexOf('\nFROM '))
  const user = /^USER (\S+)$/m.exec(finalStage)?.[1]
  assert.ok(user !== undefined && !/^(0|root)(:|$)/.test(user), 'non-root')
  assert.match(finalStage, /^EXPOSE .*\b1514\/udp\b/m)
  assert.match(finalStage, /^ENTRYPOINT \["node", "\/opt\/netconsd\/dist\/src\/cli\.js"\]$/m)
  assert.match(text, /npm ci/)
  assert.match(finalStage, /COPY deploy\/kubernetes\/reload-on-change\.mjs \.\/deploy\/reload-on-change\.mjs/)
  const ignore = readFileSync(join(deployDir, 'Dockerfile.dockerignore'), 'utf8')
  for (const copied of ['src/', 'schemas/', 'routes/', 'native/', 'deploy/kubernetes/reload-on-change.mjs']) assert.ok(ignore.includes(`!${copied}`), copied)
})

test('reload sidecar: a config content change sends SIGHUP to the daemon process', async (t) => {
  const { watch, findPids } = await import(join(deployDir, 'kubernetes', 'reload-on-change.mjs')) as {
    watch: (o: { file: string, match: string, intervalMs: number, log: () => void }) => () => void
    findPids: (m: string) => number[]
  }
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-reload-'))
  const file = join(dir, 'config.json5')
  writeFileSync(file, '{ version: 1 }')
  const marker = `netconsd-fake-${process.pid}`
  const child = spawn(process.execPath, ['-e', "process.on('SIGHUP', () => console.log('HUP')); console.log('up'); setInterval(() => {}, 1000)", marker], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }) })
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (c: string) => { out += c })
  while (!out.includes('up')) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.deepEqual(findPids(marker), [child.pid])
  const stop = watch({ file, match: marker, intervalMs: 20, log: () => {} })
  t.after(stop)
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(out.includes('HUP'), false, 'no signal without a change')
  writeFileSync(file, '{ version: 1, workers: { count: 3 } }')
  const deadline = Date.now() + 5000
  while (!out.includes('HUP') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok(out.includes('HUP'))
})
