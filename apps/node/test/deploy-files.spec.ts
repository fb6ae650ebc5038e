/**
 * No Docker engine or cluster runs here: these tests parse docker/Dockerfile,
 * docker/compose.yaml and docker/k8s/*.yaml and check their wiring against the app
 * itself — the ports match the flags, every SHOAL_* name is one the app reads and every
 * value passes the app's own flag validation, probe paths are routes the app serves, the
 * grace periods outlast the shutdown bound, the TLS files come from the right mounts.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { adminRoutes } from '../src/admin/routes.js';
import { DEFAULT_GOSSIP_PORT, DEFAULT_HTTP_PORT, ENV_NAMES, parseNodeArgs, type NodeSettings } from '../src/flags.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOCKER = path.join(ROOT, 'docker');
const RUN = JSON.parse(readFileSync(path.join(ROOT, 'apps/node/node-flags.json'), 'utf8')) as { nodeFlags: string[]; env: Record<string, string> };
const GET_ROUTES = new Set(adminRoutes().filter((r) => r.method === 'GET').map((r) => r.path));

/** The app's settings for an environment, as the node would parse it (throws FlagError on a bad value). */
function settingsFor(env: Record<string, string>): NodeSettings {
  const r = parseNodeArgs([], env);
  if (r.kind !== 'run') throw new Error('unexpected help');
  return r.settings;
}

function shoalNames(env: Record<string, unknown>): string[] {
  return Object.keys(env).filter((k) => k.startsWith('SHOAL_'));
}

// ─── Dockerfile ─────────────────────────────────────────────────────────────────────

interface Instruction {
  op: string;
  args: string;
}

function dockerfile(): { stages: { from: string; name?: string; ins: Instruction[] }[]; args: Record<string, string> } {
  const text = readFileSync(path.join(DOCKER, 'Dockerfile'), 'utf8');
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!cur && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // comment inside a continued instruction
    if (line.endsWith('\\')) {
      cur += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(cur + line);
    cur = '';
  }
  const args: Record<string, string> = {};
  const stages: { from: string; name?: string; ins: Instruction[] }[] = [];
  for (const l of logical) {
    const sp = l.indexOf(' ');
    const op = l.slice(0, sp).toUpperCase();
    const rest = l.slice(sp + 1).trim();
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args[k!] = v ?? '';
      continue;
    }
    if (op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      const from = m[1]!.replace(/\$\{(\w+)\}/g, (_, k: string) => args[k] ?? '');
      stages.push({ from, name: m[2], ins: [] });
      continue;
    }
    stages.at(-1)!.ins.push({ op, args: rest });
  }
  return { stages, args };
}

/** The final stage's ENV. */
function dockerEnv(): Record<string, string> {
  const { stages } = dockerfile();
  return envOf(stages[stages.length - 1]!.ins);
}

/** ENV k=v k2=v2 (values without spaces, as in our Dockerfile). */
function envOf(ins: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of ins.filter((x) => x.op === 'ENV')) for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
  return env;
}

describe('docker/Dockerfile', () => {
  const { stages } = dockerfile();
  const final = stages.at(-1)!;
  const ins = (op: string) => final.ins.filter((i) => i.op === op);
  const env = envOf(final.ins);

  it('is multi-stage on node:20-slim (glibc, not Alpine)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from === 'node:20-slim' || stages.some((o) => o.name === s.from)).toBe(true);
    expect(final.from).toBe('node:20-slim');
    expect(stages.map((s) => s.from).join()).not.toMatch(/alpine/i);
  });

  it('builds the app the way the project does (its tsconfig and entry point exist)', () => {
    const runs = stages.flatMap((s) => s.ins.filter((i) => i.op === 'RUN').map((i) => i.args)).join('\n');
    expect(runs).toMatch(/npm ci/);
    for (const m of runs.matchAll(/tsc -p (\S+)/g)) expect(existsSync(path.join(ROOT, m[1]!))).toBe(true);
    expect(runs).toContain('apps/node/tsconfig.app.json');
    const cmd = JSON.parse(ins('CMD')[0]!.args) as string[];
    expect(cmd).toEqual(['node', ...RUN.nodeFlags, '/app/apps/node/dist/main.js']);
    expect(existsSync(path.join(ROOT, 'apps/node/src/main.ts'))).toBe(true);
  });

  it('runs as a non-root user under an init process', () => {
    const user = ins('USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const entry = JSON.parse(ins('ENTRYPOINT')[0]!.args) as string[];
    expect(entry[0]).toMatch(/tini$/);
    expect(final.ins.some((i) => i.op === 'RUN' && /apt-get install[^&]*\btini\b/.test(i.args))).toBe(true);
  });

  it('exposes the gossip UDP port and the HTTP port that its SHOAL_BIND / SHOAL_HTTP use', () => {
    for (const name of shoalNames(env)) expect(ENV_NAMES).toContain(name);
    const s = settingsFor(env);
    expect(s.bindPort).toBe(DEFAULT_GOSSIP_PORT);
    expect(s.httpPort).toBe(DEFAULT_HTTP_PORT);
    expect(s.bindHost).toBe('0.0.0.0');
    const exposed = ins('EXPOSE').flatMap((i) => i.args.split(/\s+/));
    expect(exposed).toContain(`${s.bindPort}/udp`);
    expect(exposed).toContain(`${s.httpPort}/tcp`);
  });

  it('has a HEALTHCHECK on a real liveness route', () => {
    const hc = ins('HEALTHCHECK')[0]!.args;
    expect(hc).toMatch(/CMD \["node", "\/app\/healthcheck.mjs"\]/);
    const copy = ins('COPY').find((i) => i.args.endsWith('./healthcheck.mjs'))!;
    const script = readFileSync(path.join(ROOT, copy.args.split(/\s+/)[0]!), 'utf8');
    const p = /'(\/health\/[a-z]+)'/.exec(script)![1]!;
    expect(p).toBe('/health/live');
    expect(GET_ROUTES.has(p)).toBe(true);
    expect(script).toContain('SHOAL_HTTP');
  });

  it('copies only paths that exist', () => {
    for (const c of ins('COPY').filter((i) => !i.args.startsWith('--from'))) expect(existsSync(path.join(ROOT, c.args.split(/\s+/)[0]!))).toBe(true);
  });
});

// ─── compose.yaml ───────────────────────────────────────────────────────────────────

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  command?: string[];
  stop_grace_period?: string;
  hostname?: string;
  depends_on?: Record<string, { condition: string }>;
}

function seconds(d: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(d);
  if (!m) throw new Error(`duration ${d}`);
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 } as const)[m[2] as 'ms' | 's' | 'm'];
}

describe('apps/node/node-flags.json: every launcher runs a node the same way', () => {
  it('the Dockerfile sets its environment', () => {
    const env = dockerEnv();
    for (const [k, v] of Object.entries(RUN.env)) expect(env[k]).toBe(v);
    expect(env['NODE_OPTIONS']).toBeUndefined();
  });

  it('nx serve node uses its flags and environment', () => {
    const project = JSON.parse(readFileSync(path.join(ROOT, 'apps/node/project.json'), 'utf8')) as { targets: Record<string, { options: { command: string; env?: Record<string, string> } }> };
    const serve = project.targets['serve']!.options;
    expect(serve.command).toBe(['node', ...RUN.nodeFlags, 'apps/node/dist/main.js'].join(' '));
    expect(serve.env).toEqual(RUN.env);
  });

  it('the shoal bin starts node with them (env -S shebang)', () => {
    const first = readFileSync(path.join(ROOT, 'apps/node/bin/shoal.js'), 'utf8').split('\n')[0];
    const envPart = Object.entries(RUN.env).map(([k, v]) => `${k}=${v}`);
    expect(first).toBe(['#!/usr/bin/env -S', ...envPart, 'node', ...RUN.nodeFlags].join(' '));
  });

  it('holds only flags this Node accepts (node exits 9 on a bad option)', () => {
    const r = spawnSync(process.execPath, [...RUN.nodeFlags, '-e', '0'], { env: { ...process.env, ...RUN.env }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('docker/compose.yaml', () => {
  const compose = parse(readFileSync(path.join(DOCKER, 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
  const nodes = Object.entries(compose.services).filter(([, s]) => s.environment?.['SHOAL_ID']);

  it('runs three nodes, built from the Dockerfile', () => {
    expect(nodes.map(([n]) => n)).toEqual(['node-1', 'node-2', 'node-3']);
    for (const [, s] of nodes) {
      expect(path.resolve(DOCKER, s.build!.context, s.build!.dockerfile)).toBe(path.join(DOCKER, 'Dockerfile'));
      expect(s.depends_on?.['certs']?.condition).toBe('service_completed_successfully');
    }
  });

  it('every node environment is valid for the app, and its seeds are other nodes\' gossip ports', () => {
    const ids = new Set<string>();
    for (const [name, s] of nodes) {
      const env = s.environment!;
      for (const k of shoalNames(env)) expect(ENV_NAMES).toContain(k);
      // The image's ENV applies under the service's.
      const st = settingsFor({ ...envOf(dockerfile().stages.at(-1)!.ins), ...env });
      expect(st.id).toBe(name);
      expect(s.hostname).toBe(name);
      ids.add(st.id!);
      for (const seed of st.seeds) {
        expect(seed.host).not.toBe(name);
        expect(Object.keys(compose.services)).toContain(seed.host);
        expect(seed.port).toBe(st.bindPort);
      }
      // Admin API published on the host's loopback, to the container's HTTP port.
      expect(s.ports!.some((p) => p.endsWith(`:${st.httpPort}`))).toBe(true);
      // Graceful stop: the grace period outlasts the node's shutdown bound.
      expect(seconds(s.stop_grace_period!) * 1000).toBeGreaterThan(st.shutdownTimeoutMs);
    }
    expect(ids.size).toBe(3);
    expect(nodes.slice(1).every(([, s]) => s.environment!['SHOAL_SEEDS'])).toBe(true);
  });

  it('the certs service issues a certificate for every node id, into the volume the nodes mount at their TLS paths', () => {
    const certs = compose.services['certs']!;
    const script = certs.command!.join('\n');
    expect(script).toMatch(/shoal certs init --dir \/ca/);
    const issued = /for id in ([^;]+); do/.exec(script)![1]!.trim().split(/\s+/);
    const certsVolume = certs.volumes!.find((v) => v.endsWith(':/certs'))!.split(':')[0]!;
    expect(Object.keys(compose.volumes)).toContain(certsVolume);
    for (const [name, s] of nodes) {
      expect(issued).toContain(name);
      const mount = s.volumes!.find((v) => v.startsWith(`${certsVolume}:`))!;
      const [, target, mode] = mount.split(':');
      expect(mode).toBe('ro');
      const env = s.environment!;
      expect(env['SHOAL_TLS_CA']).toBe(`${target}/ca.pem`);
      expect(env['SHOAL_TLS_CERT']).toBe(`${target}/${name}.pem`);
      expect(env['SHOAL_TLS_KEY']).toBe(`${target}/${name}-key.pem`);
      // The CA key volume is never mounted into a node.
      expect(s.volumes!.some((v) => v.startsWith('ca:'))).toBe(false);
    }
  });
});

// ─── k8s ────────────────────────────────────────────────────────────────────────────

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec: Record<string, any> };

function k8s(): K8sObject[] {
  const dir = path.join(DOCKER, 'k8s');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .map((f) => parse(readFileSync(path.join(dir, f), 'utf8')) as K8sObject);
}

describe('docker/k8s', () => {
  const objs = k8s();
  const svc = objs.find((o) => o.kind === 'Service')!;
  const sts = objs.find((o) => o.kind === 'StatefulSet')!;
  const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget')!;
  const pod = sts.spec['template'].spec;
  const container = pod.containers[0];
  const envList = container.env as { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  const replicas = sts.spec['replicas'] as number;

  /** The container's SHOAL_* variables with $(VAR) substituted as the kubelet would, for pod `ordinal`. */
  function podEnv(ordinal: number): Record<string, string> {
    const fields: Record<string, string> = { 'metadata.name': `${sts.metadata.name}-${ordinal}`, 'status.podIP': `10.0.0.${10 + ordinal}` };
    const env: Record<string, string> = {};
    for (const e of envList) {
      if (e.valueFrom?.fieldRef) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath]!;
      else env[e.name] = (e.value ?? '').replace(/\$\((\w+)\)/g, (_, k: string) => env[k] ?? `$(${k})`);
    }
    return Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('SHOAL_')));
  }

  it('has the headless Service, the StatefulSet, the PodDisruptionBudget and a kustomization listing them', () => {
    expect(objs.map((o) => o.kind).sort()).toEqual(['PodDisruptionBudget', 'Service', 'StatefulSet']);
    const kust = parse(readFileSync(path.join(DOCKER, 'k8s', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kust.resources.sort()).toEqual(readdirSync(path.join(DOCKER, 'k8s')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  });

  it('Service: headless, publishes not-ready addresses, carries the gossip UDP port, selects the pods', () => {
    expect(svc.spec['clusterIP']).toBe('None');
    expect(svc.spec['publishNotReadyAddresses']).toBe(true);
    expect(sts.spec['serviceName']).toBe(svc.metadata.name);
    const labels = sts.spec['template'].metadata.labels as Record<string, string>;
    for (const [k, v] of Object.entries(svc.spec['selector'] as Record<string, string>)) expect(labels[k]).toBe(v);
    const s = settingsFor(podEnv(0));
    const gossip = (svc.spec['ports'] as { port: number; protocol: string; targetPort: string }[]).find((p) => p.protocol === 'UDP')!;
    expect(gossip.port).toBe(s.bindPort);
    expect(container.ports.find((p: { name: string }) => p.name === gossip.targetPort)).toMatchObject({ containerPort: s.bindPort, protocol: 'UDP' });
  });

  it('every pod gets a valid environment: its own id, its pod IP advertised, seeds from <statefulset>-N.<service> names', () => {
    expect(envList.find((e) => e.name === 'POD_IP')!.valueFrom!.fieldRef!.fieldPath).toBe('status.podIP');
    for (const e of envList) if (e.name.startsWith('SHOAL_')) expect(ENV_NAMES).toContain(e.name);
    for (let i = 0; i < replicas; i++) {
      const s = settingsFor(podEnv(i));
      expect(s.id).toBe(`${sts.metadata.name}-${i}`);
      expect(s.advertise).toEqual({ host: `10.0.0.${10 + i}`, port: s.bindPort });
      expect(s.seeds.length).toBeGreaterThanOrEqual(1);
      for (const seed of s.seeds) {
        const m = new RegExp(`^${sts.metadata.name}-(\\d+)\\.${svc.metadata.name}$`).exec(seed.host);
        expect(m).not.toBeNull();
        expect(Number(m![1])).toBeLessThan(replicas);
        expect(seed.port).toBe(s.bindPort);
      }
      expect(s.seeds.map((x) => x.host)).toContain(`${sts.metadata.name}-0.${svc.metadata.name}`);
    }
  });

  it('readiness and liveness probe real admin routes on the HTTP port', () => {
    const s = settingsFor(podEnv(0));
    const httpPort = container.ports.find((p: { containerPort: number }) => p.containerPort === s.httpPort);
    expect(httpPort).toMatchObject({ protocol: 'TCP' });
    for (const [probe, route] of [
      ['readinessProbe', '/health/ready'],
      ['livenessProbe', '/health/live'],
    ] as const) {
      const get = container[probe].httpGet as { path: string; port: string | number };
      expect(get.path).toBe(route);
      expect(GET_ROUTES.has(get.path)).toBe(true);
      expect(get.port === httpPort.name || get.port === s.httpPort).toBe(true);
    }
  });

  it('the termination grace period outlasts the shutdown bound', () => {
    const s = settingsFor(podEnv(0));
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(s.shutdownTimeoutMs);
  });

  it('CA and node certificates come from a Secret mounted at the TLS paths; the data dir is writable', () => {
    const s = settingsFor(podEnv(1));
    const tlsVolume = (pod.volumes as { name: string; secret?: { secretName: string } }[]).find((v) => v.secret)!;
    expect(tlsVolume.secret!.secretName).toBeTruthy();
    const mount = (container.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[]).find((m) => m.name === tlsVolume.name)!;
    expect(mount.readOnly).toBe(true);
    expect(s.tls).toEqual({ caPath: `${mount.mountPath}/ca.pem`, certPath: `${mount.mountPath}/${s.id}.pem`, keyPath: `${mount.mountPath}/${s.id}-key.pem` });
    const dataMount = (container.volumeMounts as { mountPath: string; readOnly?: boolean }[]).find((m) => m.mountPath === s.dataDir);
    expect(dataMount?.readOnly ?? false).toBe(false);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
  });

  it('PodDisruptionBudget: at most one node down at a time, same pods', () => {
    expect(pdb.spec['maxUnavailable']).toBe(1);
    const labels = sts.spec['template'].metadata.labels as Record<string, string>;
    for (const [k, v] of Object.entries(pdb.spec['selector'].matchLabels as Record<string, string>)) expect(labels[k]).toBe(v);
  });
});

describe('docker/README.md', () => {
  it('says how to build and run the image, compose and k8s', () => {
    const readme = readFileSync(path.join(DOCKER, 'README.md'), 'utf8');
    expect(readme).toContain('docker build -f docker/Dockerfile');
    expect(readme).toContain('docker compose -f docker/compose.yaml up');
    expect(readme).toContain('kubectl create secret generic shoal-tls');
    expect(readme).toContain('kubectl apply -k docker/k8s');
  });
});
