/** Small numeric and formatting helpers shared by the benchmarks. */

/** Nearest-rank percentile (p in 0..100) of xs; NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** The pair every per-node figure is reported as: median and max over the nodes. */
export type MedianMax = { median: number; max: number };

/** Median and max of xs, each rounded to `digits` decimals. */
export function medianMax(xs: readonly number[], digits = 3): MedianMax {
  return { median: round(median(xs), digits), max: round(max(xs), digits) };
}

export function max(xs: readonly number[]): number {
  return xs.length ? Math.max(...xs) : NaN;
}

export function min(xs: readonly number[]): number {
  return xs.length ? Math.min(...xs) : NaN;
}

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const MiB = 1024 * 1024;

/** A plain-text / Markdown table (pipes), columns padded. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header.map(String), ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(cells[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(Math.abs(x) >= 1 ? 2 : 3);
}

export interface Verdict {
  met: boolean;
  text: string;
}

/** "met (0.31 ≤ 0.5 %, 38 % headroom)" or "not met (0.9 > 0.5 %, 80 % over)". */
export function verdict(value: number, limit: number, unit: string): Verdict {
  if (!Number.isFinite(value)) return { met: false, text: 'not measured' };
  const met = value <= limit;
  const pct = Math.abs(value - limit) / limit * 100;
  return {
    met,
    text: met
      ? `met (${fmt(value)} ≤ ${fmt(limit)} ${unit}, ${pct.toFixed(0)} % headroom)`
      : `not met (${fmt(value)} > ${fmt(limit)} ${unit}, ${pct.toFixed(0)} % over)`,
  };
}
