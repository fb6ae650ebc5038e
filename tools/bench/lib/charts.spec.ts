import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  chartsMarkdown,
  loadTransportRuns,
  nodeCharts,
  renderSvg,
  simCharts,
  transportCharts,
  transportHistoryChart,
  type NodeResultsLike,
  type SimResultsLike,
  type TransportResultsLike,
} from './charts.js';
import { findRoot } from './docs.js';

const root = findRoot();

/** The <path> marks inside the SVG group of one mark type (Vega draws points and ticks as paths/lines in role-mark groups). */
function marks(svg: string, kind: 'symbol' | 'rule' | 'line' | 'rect'): number {
  const groups = [...svg.matchAll(new RegExp(`<g class="mark-${kind} role-mark[^"]*"[^>]*>(.*?)</g>`, 'gs'))];
  return groups.reduce((n, g) => n + (g[1]!.match(/<(path|line)\b/g)?.length ?? 0), 0);
}

function cluster(label: string, cpus: number[], p50 = 1, withQuantiles = true): TransportResultsLike['steady'][number] {
  return {
    label,
    setting: { name: label.split('/')[1]! },
    nodes: cpus.map((cpuPct, i) => ({ id: `n${i}`, cpuPct, perProcess: 1 })),
    rtt: { p50Ms: p50, p99Ms: p50 * 3, ...(withQuantiles ? { quantilesMs: [[1, p50 / 2], [50, p50], [99, p50 * 3]] as [number, number][] } : {}) },
    solo: { cpuPct: { median: cpus[Math.floor(cpus.length / 2)]!, max: Math.max(...cpus) } },
  };
}

describe('benchmark pictures', () => {
  it('draws one dot per measured node, one median bar per setting and the target line', async () => {
    const r: TransportResultsLike = { date: '2026-01-01', steady: [cluster('steady-20/lean', [0.2, 0.3, 0.4]), cluster('steady-20/udp-reference', [0.1, 0.2])] };
    const [cpu, rtt] = transportCharts(r, 0.5, 1.5);
    const svg = await renderSvg(cpu!.spec);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(marks(svg, 'symbol')).toBe(5);
    expect(svg).toContain('target 0.5 %');
    expect(svg).toContain('steady-20/udp-reference');
    const rttSvg = await renderSvg(rtt!.spec);
    expect(rttSvg).toContain('target p50 1.5 ms');
    expect(marks(rttSvg, 'line')).toBeGreaterThanOrEqual(2); // one distribution line per setting
  });

  it('leaves out nodes that shared a process, and falls back to p50/p99 points without saved quantiles', async () => {
    const shared = cluster('big-100/lean', [0.3, 0.3], 1, false);
    shared.nodes = [...shared.nodes, { id: 'x', cpuPct: 9, perProcess: 12 }];
    const r: TransportResultsLike = { date: '2026-01-01', steady: [cluster('steady-20/lean', [0.2], 1, false)], big: { ...shared, n: 100 } };
    const [cpu, rtt] = transportCharts(r);
    const svg = await renderSvg(cpu!.spec);
    expect(marks(svg, 'symbol')).toBe(3);
    expect(svg).not.toContain('>9<'); // the shared-process node set no axis to 9 %
    expect(marks(await renderSvg(rtt!.spec), 'symbol')).toBe(4); // p50 + p99 for two runs
  });

  it('puts saved runs side by side, and needs at least two', async () => {
    const run = (cpu: number) => ({ date: '2026-01-01', steady: [cluster('steady-20/lean', [cpu]), cluster('steady-20/udp-reference', [cpu / 2])] });
    expect(transportHistoryChart([{ label: 'a', results: run(0.3) }])).toBeUndefined();
    const chart = transportHistoryChart([{ label: 'a', results: run(0.3) }, { label: 'b', results: run(0.6) }])!;
    const svg = await renderSvg(chart.spec);
    expect(svg).toContain('udp-reference');
    expect(marks(svg, 'symbol')).toBe(8); // 2 runs × 2 settings × (CPU, rtt)
  });

  it('orders saved runs: older files by name with the plain one last, then those that say when they finished', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'shoal-charts-'));
    try {
      const dir = path.join(tmp, 'tools', 'bench', 'results');
      mkdirSync(dir, { recursive: true });
      const save = (name: string, extra: object = {}) => writeFileSync(path.join(dir, name), JSON.stringify({ date: '2026-01-02', steady: [], ...extra }));
      save('transport-2026-01-02.json');
      save('transport-2026-01-02-b.json');
      save('transport-2026-01-02-a.json');
      save('transport-2026-01-02-later.json', { finishedAt: '2026-01-02T10:00:00.000Z' });
      save('transport-2026-01-02-quick.json');
      save('transport-2026-01-01.json', { date: '2026-01-01' });
      save('transport-flags-2026-01-02.json');
      writeFileSync(path.join(dir, 'transport-2026-01-03.json'), JSON.stringify({ date: '2026-01-03' })); // no steady phase: left out
      expect(loadTransportRuns(tmp).map((r) => r.label)).toEqual(['2026-01-01 tables above', '2026-01-02 a', '2026-01-02 b', '2026-01-02 tables above', '2026-01-02 later']);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('draws the saved results of every bench', async () => {
    const resultsDir = path.join(root, 'tools', 'bench', 'results');
    const runs = loadTransportRuns(root);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    const latest = JSON.parse(readFileSync(path.join(resultsDir, 'transport-2026-11-27.json'), 'utf8')) as TransportResultsLike;
    const [cpu] = transportCharts(latest);
    const solo = [...latest.steady, ...(latest.big ? [latest.big] : [])].flatMap((c) => c.nodes).filter((n) => (n.perProcess ?? 1) === 1).length;
    expect(marks(await renderSvg(cpu!.spec), 'symbol')).toBe(solo);
    expect(transportHistoryChart(runs)).toBeDefined();

    const sim = JSON.parse(readFileSync(path.join(resultsDir, 'sim-2026-11-27.json'), 'utf8')) as SimResultsLike;
    const [detection, traffic] = simCharts(sim);
    const detectionSvg = await renderSvg(detection!.spec);
    expect(detectionSvg).toContain('first suspected');
    expect(marks(detectionSvg, 'symbol')).toBe(5 * sim.results.length);
    expect(marks(await renderSvg(traffic!.spec), 'rect')).toBe(2 * sim.results.length);

    const node = JSON.parse(readFileSync(path.join(resultsDir, 'node-2026-11-27.json'), 'utf8')) as NodeResultsLike;
    const charts = nodeCharts(node);
    expect(charts.map((c) => c.file)).toEqual(['node-cpu.svg', 'node-timing.svg']);
    const timing = await renderSvg(charts[1]!.spec);
    expect(marks(timing, 'symbol')).toBe(node.startup!.spawnToReadyMs.all.length + node.leave!.trials.length);
    expect(chartsMarkdown(charts)).toBe(`![${charts[0]!.alt}](bench/node-cpu.svg)\n\n![${charts[1]!.alt}](bench/node-timing.svg)`);
  });
});
