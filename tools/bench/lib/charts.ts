/**
 * Pictures of the benchmark results: Vega-Lite specs rendered to SVG with Vega (no browser,
 * no canvas), written to docs/bench/ and linked from docs/BENCHMARKS.md.
 *
 * Every chart is a pure function of a results JSON (tools/bench/results/*.json), so any saved
 * run can be drawn again: the transport and simulator benches take `--docs-from=<file>`, the
 * node-app bench `--report-only=<file>`.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One picture: its file name under docs/bench/, what it shows (alt text), and its spec. */
export interface Chart {
  file: string;
  alt: string;
  spec: TopLevelSpec;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const TARGET_COLOUR = '#c0392b';
const WIDTH = 560;

/** Renders a Vega-Lite spec to a standalone SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Renders each chart into <root>/docs/bench/<file> (atomically) and returns the Markdown that shows them. */
export async function writeCharts(root: string, charts: readonly Chart[]): Promise<string> {
  const dir = path.join(root, 'docs', 'bench');
  mkdirSync(dir, { recursive: true });
  for (const c of charts) {
    const file = path.join(dir, c.file);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, await renderSvg(c.spec));
    renameSync(tmp, file);
  }
  return chartsMarkdown(charts);
}

/** `![alt](bench/file)` lines, relative to docs/BENCHMARKS.md. */
export function chartsMarkdown(charts: readonly Chart[]): string {
  return charts.map((c) => `![${c.alt}](bench/${c.file})`).join('\n\n');
}

// ---- shared layers ------------------------------------------------------------------------

/** What every picture starts with: the schema, its title and subtitle, the common width and a height. */
function frame(text: string, subtitle: string, height: number | { step: number }) {
  return { $schema: SCHEMA, title: { text, subtitle }, width: WIDTH, height } as const;
}

/** A dashed vertical (axis 'x') or horizontal ('y') rule at a target, labelled. */
function targetRule(axis: 'x' | 'y', value: number, label: string): NonNullable<Extract<TopLevelSpec, { layer: unknown }>['layer']>[number] {
  const other = axis === 'x' ? 'y' : 'x';
  return {
    data: { values: [{ target: value, label }] },
    layer: [
      { mark: { type: 'rule', color: TARGET_COLOUR, strokeDash: [5, 3], strokeWidth: 1.5 }, encoding: { [axis]: { field: 'target', type: 'quantitative' } } },
      {
        mark: { type: 'text', color: TARGET_COLOUR, align: 'left', baseline: axis === 'x' ? 'top' : 'bottom', dx: 3, dy: axis === 'x' ? 2 : -2, fontSize: 11 },
        encoding: { [axis]: { field: 'target', type: 'quantitative' }, [other]: { value: 0 }, text: { field: 'label' } },
      },
    ],
  } as never;
}

/**
 * A dot's vertical place within its row, -0.5..0.5, fixed by its index (not random, so a chart
 * is the same every time it is drawn): spreads the dots of one row so equal values stay visible.
 */
export function jitter(i: number): number {
  return (((i * 7) % 11) / 10) - 0.5;
}

/** The encoding that spreads dots within a row by their `jitter` field. */
const Y_JITTER = { field: 'jitter', type: 'quantitative', scale: { domain: [-0.5, 0.5], range: [-9, 9] }, legend: null } as const;

/** One row per run or variant: a dot per node (spread by `jitter`), a bar at the median, the target line. */
function cpuStrip(o: {
  title: string;
  subtitle: string;
  dots: readonly { row: string; node: string; cpuPct: number; jitter: number }[];
  medians: readonly { row: string; median: number }[];
  order: readonly string[];
  targetPct: number;
  step: number;
}): TopLevelSpec {
  return {
    ...frame(o.title, o.subtitle, { step: o.step }),
    layer: [
      {
        data: { values: o.dots },
        mark: { type: 'point', filled: true, opacity: 0.65, size: 45 },
        encoding: {
          x: { field: 'cpuPct', type: 'quantitative', title: 'CPU, % of one core', scale: { zero: true } },
          y: { field: 'row', type: 'nominal', sort: o.order, title: null, axis: { labelLimit: 260 } },
          yOffset: Y_JITTER as never,
          color: { field: 'row', type: 'nominal', legend: null },
          tooltip: [{ field: 'node' }, { field: 'cpuPct' }],
        },
      },
      {
        data: { values: o.medians },
        mark: { type: 'tick', color: 'black', thickness: 2, size: o.step * 0.7 },
        encoding: { x: { field: 'median', type: 'quantitative' }, y: { field: 'row', type: 'nominal', sort: o.order } },
      },
      targetRule('x', o.targetPct, `target ${o.targetPct} %`),
    ],
  } as TopLevelSpec;
}

// ---- transport bench (tools/bench/transport) ----------------------------------------------

/** The parts of a transport results file the charts read (older files lack `quantilesMs`). */
export interface TransportResultsLike {
  date: string;
  /** When the run ended (ISO 8601); absent in files written before it was recorded. */
  finishedAt?: string;
  steady: readonly {
    label: string;
    setting: { name: string };
    nodes: readonly { id: string; cpuPct: number; perProcess?: number }[];
    rtt: { p50Ms: number; p99Ms: number; quantilesMs?: readonly (readonly [number, number])[] };
    solo: { cpuPct: { median: number; max: number } };
  }[];
  big?: TransportResultsLike['steady'][number] & { n: number };
}

/** The percentiles saved for a round-trip distribution (`rtt.quantilesMs` in the results). */
export const RTT_QUANTILES = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99] as const;

export function transportCharts(r: TransportResultsLike, cpuTargetPct = 0.5, rttTargetMs = 1.5): Chart[] {
  const clusters = [...r.steady, ...(r.big ? [r.big] : [])];
  const order = clusters.map((c) => c.label);
  const cpu: Chart = {
    file: 'transport-cpu.svg',
    alt: `CPU of each node (one dot a node, bar the median) per setting, ${r.date}, against the ${cpuTargetPct} % target`,
    spec: cpuStrip({
      title: `CPU per node in a steady cluster, ${r.date}`,
      subtitle: 'one dot per node process; bar: median; dashed: target',
      dots: clusters.flatMap((c) =>
        c.nodes.filter((n) => (n.perProcess ?? 1) === 1).map((n, i) => ({ row: c.label, node: n.id, cpuPct: n.cpuPct, jitter: jitter(i) })),
      ),
      medians: clusters.map((c) => ({ row: c.label, median: c.solo.cpuPct.median })),
      order,
      targetPct: cpuTargetPct,
      step: 30,
    }),
  };
  const withQuantiles = clusters.filter((c) => c.rtt.quantilesMs?.length);
  const rtt: Chart = withQuantiles.length
    ? {
        file: 'transport-rtt.svg',
        alt: `Distribution of probe round trips per setting, ${r.date}, against the ${rttTargetMs} ms target`,
        spec: {
          ...frame(`Probe round trip, ${r.date}`, 'share of probes answered within x ms (all nodes); dashed: p50 target', 260),
          layer: [
            {
              data: { values: withQuantiles.flatMap((c) => c.rtt.quantilesMs!.map(([p, ms]) => ({ run: c.label, p: p / 100, ms }))) },
              mark: { type: 'line', point: true, interpolate: 'monotone' },
              encoding: {
                x: { field: 'ms', type: 'quantitative', title: 'probe round trip, ms (log scale)', scale: { type: 'log' } },
                y: { field: 'p', type: 'quantitative', title: 'share of probes', axis: { format: '%' }, scale: { domain: [0, 1] } },
                color: { field: 'run', type: 'nominal', sort: order, title: null, legend: { orient: 'bottom-right', labelLimit: 260 } },
              },
            },
            targetRule('x', rttTargetMs, `target p50 ${rttTargetMs} ms`),
          ],
        } as TopLevelSpec,
      }
    : {
        file: 'transport-rtt.svg',
        alt: `Probe round trip p50 and p99 per setting, ${r.date}, against the ${rttTargetMs} ms target`,
        spec: {
          ...frame(`Probe round trip, ${r.date}`, 'p50 (filled) and p99 (open); dashed: p50 target', { step: 30 }),
          layer: [
            {
              data: { values: clusters.flatMap((c) => [{ run: c.label, at: 'p50', ms: c.rtt.p50Ms }, { run: c.label, at: 'p99', ms: c.rtt.p99Ms }]) },
              mark: { type: 'point', size: 70 },
              encoding: {
                x: { field: 'ms', type: 'quantitative', title: 'ms (log scale)', scale: { type: 'log' } },
                y: { field: 'run', type: 'nominal', sort: order, title: null, axis: { labelLimit: 260 } },
                shape: { field: 'at', type: 'nominal', title: null },
                fill: { field: 'at', type: 'nominal', scale: { range: ['#4c78a8', 'transparent'] }, legend: null },
              },
            },
            targetRule('x', rttTargetMs, `target p50 ${rttTargetMs} ms`),
          ],
        } as TopLevelSpec,
      };
  return [cpu, rtt];
}

/**
 * How the transport and the plain-UDP floor moved together over saved runs: per run, the
 * median and busiest node's CPU and the probe round trip p50, for each of `settings`.
 */
export function transportHistoryChart(
  runs: readonly { label: string; results: TransportResultsLike }[],
  settings: readonly string[] = ['lean', 'udp-reference', 'memberlist', 'memberlist-encrypted'],
  cpuTargetPct = 0.5,
  rttTargetMs = 1.5,
): Chart | undefined {
  const rows = runs.flatMap(({ label, results }) =>
    results.steady
      .filter((c) => settings.includes(c.setting.name))
      .map((c) => ({ run: label, setting: c.setting.name, cpuMedian: c.solo.cpuPct.median, cpuMax: c.solo.cpuPct.max, rttP50: c.rtt.p50Ms })),
  );
  const runOrder = runs.map((x) => x.label);
  if (new Set(rows.map((x) => x.run)).size < 2) return undefined;
  const panel = (field: string, title: string, target: number, label: string, extra?: object) => ({
    width: WIDTH,
    height: 170,
    layer: [
      ...(extra ? [extra] : []),
      {
        mark: { type: 'line', point: { filled: true, size: 50 } },
        encoding: {
          x: { field: 'run', type: 'nominal', sort: runOrder, title: null, axis: { labelAngle: -30, labelLimit: 240 } },
          y: { field, type: 'quantitative', title },
          color: { field: 'setting', type: 'nominal', sort: settings, title: null, legend: { orient: 'top', labelLimit: 240 } },
        },
      },
      targetRule('y', target, label),
    ],
  });
  const maxBand = {
    mark: { type: 'errorbar', ticks: true, opacity: 0.6 },
    encoding: {
      x: { field: 'run', type: 'nominal', sort: runOrder },
      y: { field: 'cpuMedian', type: 'quantitative', title: 'CPU, % of one core' },
      y2: { field: 'cpuMax' },
      color: { field: 'setting', type: 'nominal', sort: settings },
    },
  };
  return {
    file: 'transport-history.svg',
    alt: `Median and busiest node's CPU and probe round trip p50 of ${settings.join(' and ')} over ${runOrder.length} saved runs`,
    spec: {
      $schema: SCHEMA,
      title: { text: 'The transport tracks the machine: saved 20-node runs side by side', subtitle: `${settings.join(' vs ')}; CPU line: median node, whisker up to the busiest node` },
      data: { values: rows },
      vconcat: [panel('cpuMedian', 'CPU, % of one core', cpuTargetPct, `target ${cpuTargetPct} %`, maxBand), panel('rttP50', 'probe rtt p50, ms', rttTargetMs, `target ${rttTargetMs} ms`)],
    } as TopLevelSpec,
  };
}

/**
 * Saved transport results in tools/bench/results, oldest first. A run that says when it finished
 * (`finishedAt`, written since 2026-11-27's fifth session) sorts by that; older files sort
 * before those of their date, by name, with the plain `transport-<date>.json` last. Each is
 * labelled by what follows the date in its name (the plain file: "tables above", the run the
 * docs' tables show).
 */
export function loadTransportRuns(root: string): { label: string; results: TransportResultsLike }[] {
  const dir = path.join(root, 'tools', 'bench', 'results');
  const runs = readdirSync(dir)
    .filter((f) => /^transport-\d{4}-\d{2}-\d{2}.*\.json$/.test(f) && !f.endsWith('-quick.json'))
    .map((f) => {
      const results = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as TransportResultsLike & { finishedAt?: string };
      const suffix = f.replace(/^transport-\d{4}-\d{2}-\d{2}-?/, '').replace(/\.json$/, '');
      const key = results.finishedAt ?? `${results.date}T00 ${suffix || '~'}`;
      return { label: `${results.date} ${suffix || 'tables above'}`, results, key };
    })
    .filter((x) => Array.isArray(x.results.steady));
  runs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)); // code-unit order: '~' after letters
  return runs.map(({ label, results }) => ({ label, results }));
}

// ---- simulator bench (tools/bench/sim) ----------------------------------------------------

export interface SimResultsLike {
  date: string;
  results: readonly {
    n: number;
    detection?: { firstSuspectedMs?: number; firstMs?: number; p50Ms?: number; p99Ms?: number; maxMs?: number; boundWithConfirmationsMs: number };
    steady?: { bytesPerMemberPerSec: number; bytesPerMemberPerSecWithoutPushPull: number; msgsPerMemberPerSec: number };
  }[];
}

export function simCharts(r: SimResultsLike): Chart[] {
  const ns = r.results.map((x) => x.n);
  const detection = r.results.flatMap((x) => {
    const d = x.detection;
    if (!d) return [];
    const points: [string, number | undefined][] = [
      ['1 first suspected', d.firstSuspectedMs],
      ['2 first declared failed', d.firstMs],
      ['3 failed at p50 of members', d.p50Ms],
      ['4 failed at every member', d.maxMs],
      ['5 bound (with confirmations)', d.boundWithConfirmationsMs],
    ];
    return points.filter((p): p is [string, number] => Number.isFinite(p[1])).map(([what, ms]) => ({ n: x.n, what, s: ms / 1000 }));
  });
  const traffic = r.results.flatMap((x) =>
    x.steady
      ? [
          { n: x.n, what: 'all messages', bps: x.steady.bytesPerMemberPerSec },
          { n: x.n, what: 'without push-pull', bps: x.steady.bytesPerMemberPerSecWithoutPushPull },
        ]
      : [],
  );
  const xAxis = { field: 'n', type: 'ordinal', sort: ns, title: 'cluster size (members)', axis: { labelAngle: 0 } } as const;
  return [
    {
      file: 'sim-detection.svg',
      alt: `Seconds from a member's crash to its detection, by cluster size (simulator, ${r.date})`,
      spec: {
        ...frame(`From a crash to everyone knowing, ${r.date}`, 'simulated lan cluster, one member crashed in a steady cluster', 240),
        data: { values: detection },
        mark: { type: 'line', point: { filled: true, size: 60 } },
        encoding: {
          x: xAxis,
          y: { field: 's', type: 'quantitative', title: 'seconds after the crash' },
          color: { field: 'what', type: 'nominal', title: null, legend: { orient: 'right', labelExpr: 'slice(datum.label, 2)', labelLimit: 260 } },
          strokeDash: { condition: { test: "datum.what == '5 bound (with confirmations)'", value: [5, 3] }, value: [1, 0] } as never,
        },
      } as TopLevelSpec,
    },
    {
      file: 'sim-traffic.svg',
      alt: `Bytes each member sends per second by cluster size (simulator, ${r.date})`,
      spec: {
        ...frame(`What a member sends per second, ${r.date}`, 'steady simulated lan cluster; push-pull grows with the member table', 200),
        data: { values: traffic },
        mark: { type: 'bar' },
        encoding: {
          x: xAxis,
          xOffset: { field: 'what' },
          y: { field: 'bps', type: 'quantitative', title: 'bytes per member per second' },
          color: { field: 'what', type: 'nominal', title: null, legend: { orient: 'top' } },
        },
      } as TopLevelSpec,
    },
  ];
}

// ---- node app bench (tools/bench/node) ----------------------------------------------------

export interface NodeResultsLike {
  date: string;
  startup?: { spawnToReadyMs: { all: readonly number[] } };
  steady?: readonly { variant: string; nodes: readonly { id: string; cpuPct: number }[]; cpuPct: { median: number } }[];
  leave?: { trials: readonly { victim: string; allLeftMs: number }[] };
}

export function nodeCharts(r: NodeResultsLike, targets = { startS: 1.5, cpuPct: 0.5, leaveS: 2 }): Chart[] {
  const charts: Chart[] = [];
  if (r.steady?.length) {
    charts.push({
      file: 'node-cpu.svg',
      alt: `CPU of each node app in a steady 20-node cluster (one dot a node), ${r.date}, against the ${targets.cpuPct} % target`,
      spec: cpuStrip({
        title: `Node app CPU per node, ${r.date}`,
        subtitle: 'lean: the Nest app (nx serve node); runtime-lean: the same runtime without Nest',
        dots: r.steady.flatMap((s) => s.nodes.map((n, i) => ({ row: s.variant, node: n.id, cpuPct: n.cpuPct, jitter: jitter(i) }))),
        medians: r.steady.map((s) => ({ row: s.variant, median: s.cpuPct.median })),
        order: r.steady.map((s) => s.variant),
        targetPct: targets.cpuPct,
        step: 44,
      }),
    });
  }
  const timing = [
    ...(r.startup?.spawnToReadyMs.all ?? []).map((ms, i) => ({ what: '1 start → ready', run: i + 1, s: ms / 1000, target: targets.startS })),
    ...(r.leave?.trials ?? []).map((t, i) => ({ what: '2 graceful leave → left everywhere (5 nodes)', run: i + 1, s: t.allLeftMs / 1000, target: targets.leaveS })),
  ];
  if (timing.length) {
    charts.push({
      file: 'node-timing.svg',
      alt: `Start-to-ready and graceful-leave times of every run, ${r.date}, against their targets`,
      spec: {
        $schema: SCHEMA,
        title: { text: `Node app start and leave, ${r.date}`, subtitle: 'one dot per run; dashed: the target' },
        data: { values: timing },
        facet: { row: { field: 'what', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left', labelFontWeight: 'bold', labelExpr: 'slice(datum.label, 2)', labelLimit: 200 } } },
        resolve: { scale: { x: 'independent' } },
        spec: {
          width: WIDTH,
          height: 40,
          layer: [
            { mark: { type: 'point', filled: true, size: 60, opacity: 0.7 }, encoding: { x: { field: 's', type: 'quantitative', title: 'seconds', scale: { zero: true } } } },
            { mark: { type: 'rule', color: TARGET_COLOUR, strokeDash: [5, 3], strokeWidth: 1.5 }, encoding: { x: { aggregate: 'max', field: 'target', type: 'quantitative' } } },
          ],
        },
      } as TopLevelSpec,
    });
  }
  return charts;
}
