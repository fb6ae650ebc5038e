/**
 * The live view: a page at the admin URL's root that draws this node's view of the cluster
 * (a ring of members coloured by state, the member table, and the changes seen while the page
 * is open). It polls `GET /v1/members`; it has no powers the admin API does not have.
 *
 * The page's script is assembled from the functions below with Function.prototype.toString,
 * so the code the browser runs is the code the tests run (apps/node/test/live-view.spec.ts).
 * Each of them may use only the others shipped with it (liveViewScript lists them): no imports,
 * no module-level constants.
 */

/** A member as GET /v1/members shows it. */
export interface ViewMember {
  id: string;
  address: string;
  state: string;
  incarnation: number;
  tags: Record<string, string>;
}

/** Something that changed between two polls. */
export interface MemberChange {
  at: number;
  id: string;
  what: 'joined' | 'state' | 'tags' | 'gone';
  /** joined: the first state seen; state: "alive → suspect"; tags: the new tags; gone: the last state seen. */
  detail: string;
}

/** How often the page polls, and how many changes it lists. */
export const LIVE_VIEW_POLL_MS = 1000;
export const LIVE_VIEW_MAX_CHANGES = 50;

/** `k=v, k2=v2`, keys sorted; "" for none. */
export function tagsText(tags: Record<string, string>): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(', ');
}

/** Orders members by id (code-unit order, as the admin API sorts them). */
export function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** What changed from one poll to the next (nothing on the first poll, `prev` undefined), in id order. */
export function memberChanges(prev: readonly ViewMember[] | undefined, next: readonly ViewMember[], at: number): MemberChange[] {
  if (!prev) return [];
  const before = new Map(prev.map((m) => [m.id, m]));
  const now = new Set(next.map((m) => m.id));
  const out: MemberChange[] = [];
  for (const m of [...next].sort(byId)) {
    const old = before.get(m.id);
    if (!old) out.push({ at, id: m.id, what: 'joined', detail: m.state });
    else {
      if (old.state !== m.state) out.push({ at, id: m.id, what: 'state', detail: `${old.state} → ${m.state}` });
      if (tagsText(old.tags) !== tagsText(m.tags)) out.push({ at, id: m.id, what: 'tags', detail: tagsText(m.tags) || '(none)' });
    }
  }
  for (const m of [...prev].sort(byId)) if (!now.has(m.id)) out.push({ at, id: m.id, what: 'gone', detail: m.state });
  return out;
}

/**
 * Where `count` dots go in a square picture of side `size`, `margin` left free at the edges (for
 * labels): evenly around a circle (the first at
 * the top, clockwise), on as many concentric rings as keep the dots apart, with the dots'
 * radius shrinking as the cluster grows (never below 2).
 */
export function ringLayout(count: number, size: number, margin: number): { x: number; y: number; r: number }[] {
  const centre = size / 2;
  const outer = size / 2 - margin;
  const perRing = 120;
  const rings = Math.max(1, Math.ceil(count / perRing));
  const gap = rings > 1 ? Math.min(28, outer / 2 / (rings - 1)) : 0;
  const out: { x: number; y: number; r: number }[] = [];
  let placed = 0;
  for (let ring = 0; ring < rings; ring++) {
    const n = Math.min(perRing, count - placed);
    const radius = outer - ring * gap;
    const dot = Math.max(2, Math.min(18, ((Math.PI * radius) / Math.max(n, 1)) * 0.75, gap > 0 ? gap * 0.45 : 18));
    for (let i = 0; i < n; i++) {
      const angle = -Math.PI / 2 + (2 * Math.PI * i) / n;
      out.push({ x: centre + radius * Math.cos(angle), y: centre + radius * Math.sin(angle), r: dot });
    }
    placed += n;
  }
  return out;
}

/** The page's main loop (runs in the browser): poll, draw, list changes, say when the node cannot be reached. */
function liveViewMain(pollMs: number, maxChanges: number): void {
  /* eslint-disable @typescript-eslint/no-explicit-any -- browser globals; this function is shipped as text */
  const g = globalThis as any;
  const doc = g.document;
  const SVG = 'http://www.w3.org/2000/svg';
  const COLOURS: Record<string, string> = { alive: '#2e9d57', suspect: '#e6a100', failed: '#d0392b', left: '#8c8c8c' };
  const el = (id: string): any => doc.getElementById(id);
  const make = (tag: string, text?: string, cls?: string): any => {
    const e = doc.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };
  const svg = (tag: string, attrs: Record<string, string | number>): any => {
    const e = doc.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  };
  let previous: ViewMember[] | undefined;
  const changes: MemberChange[] = [];

  function draw(self: string, members: ViewMember[]): void {
    const ring = el('ring');
    ring.replaceChildren();
    const size = 600;
    const labelled = members.length <= 24;
    const spots = ringLayout(members.length, size, labelled ? 90 : 24);
    members.forEach((m, i) => {
      const p = spots[i]!;
      const dot = svg('circle', { cx: p.x.toFixed(1), cy: p.y.toFixed(1), r: p.r.toFixed(1), fill: COLOURS[m.state] ?? '#555', class: m.id === self ? 'self' : 'member' });
      const title = svg('title', {});
      title.textContent = `${m.id} · ${m.address} · ${m.state} · incarnation ${m.incarnation}${Object.keys(m.tags).length ? ` · ${tagsText(m.tags)}` : ''}`;
      dot.appendChild(title);
      ring.appendChild(dot);
      if (labelled) {
        const right = p.x >= size / 2;
        const label = svg('text', { x: (p.x + (right ? p.r + 6 : -p.r - 6)).toFixed(1), y: (p.y + 4).toFixed(1), 'text-anchor': right ? 'start' : 'end', class: 'label' });
        label.textContent = m.id;
        ring.appendChild(label);
      }
    });
    const count = (s: string): number => members.filter((m) => m.state === s).length;
    const centre = svg('text', { x: size / 2, y: size / 2 - 6, 'text-anchor': 'middle', class: 'big' });
    centre.textContent = `${count('alive')} alive`;
    const sub = svg('text', { x: size / 2, y: size / 2 + 20, 'text-anchor': 'middle', class: 'small' });
    sub.textContent = `of ${members.length} known · ${count('suspect')} suspect · ${count('failed')} failed · ${count('left')} left`;
    ring.append(centre, sub);
  }

  function table(self: string, members: ViewMember[]): void {
    const body = el('members-body');
    body.replaceChildren(
      ...members.map((m) => {
        const tr = make('tr', undefined, m.id === self ? 'self' : undefined);
        const state = make('td');
        state.append(make('span', m.state, `state ${m.state}`));
        tr.append(make('td', m.id), make('td', m.address), state, make('td', String(m.incarnation)), make('td', tagsText(m.tags)));
        return tr;
      }),
    );
  }

  function list(): void {
    el('changes').replaceChildren(
      ...changes.map((c) => {
        const li = make('li');
        li.append(make('time', new Date(c.at).toLocaleTimeString()), make('b', ` ${c.id} `), make('span', c.what === 'state' ? c.detail : `${c.what}: ${c.detail}`));
        return li;
      }),
    );
    el('no-changes').hidden = changes.length > 0;
  }

  async function poll(): Promise<void> {
    try {
      const res = await g.fetch('/v1/members', { headers: { accept: 'application/json' }, signal: g.AbortSignal.timeout(pollMs * 2) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { node: string; members: ViewMember[] };
      const members = [...body.members].sort(byId);
      const now = Date.now();
      changes.unshift(...memberChanges(previous, members, now).reverse());
      changes.length = Math.min(changes.length, maxChanges);
      previous = members;
      el('node').textContent = body.node;
      doc.title = `Shoal · ${body.node}`;
      draw(body.node, members);
      table(body.node, members);
      list();
      el('status').textContent = `updated ${new Date(now).toLocaleTimeString()}`;
      el('status').className = 'ok';
    } catch (e) {
      el('status').textContent = `cannot reach the node (${(e as Error).message}); retrying every ${pollMs / 1000} s`;
      el('status').className = 'error';
    } finally {
      g.setTimeout(poll, pollMs);
    }
  }
  void poll();
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

/** The script served at /live-view.js: the functions above as text, then the main loop started. */
export function liveViewScript(): string {
  return [
    "'use strict';",
    tagsText.toString(),
    byId.toString(),
    memberChanges.toString(),
    ringLayout.toString(),
    liveViewMain.toString(),
    `liveViewMain(${LIVE_VIEW_POLL_MS}, ${LIVE_VIEW_MAX_CHANGES});`,
    '',
  ].join('\n');
}

/** The page served at /. Everything dynamic is written by the script with textContent (member ids and tags come from other nodes). */
export const LIVE_VIEW_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shoal</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
  header { display: flex; gap: 1em; align-items: baseline; padding: 12px 20px; background: #1f3b57; color: #fff; }
  header h1 { font-size: 18px; margin: 0; }
  #status.ok { color: #bfe3c9; } #status.error { color: #ffb3a7; font-weight: bold; }
  main { display: flex; flex-wrap: wrap; gap: 20px; padding: 16px 20px; }
  #ring { width: min(600px, 95vw); height: auto; background: #fff; border: 1px solid #ddd; border-radius: 6px; }
  #ring circle { stroke: #fff; stroke-width: 1; } #ring circle.self { stroke: #1f3b57; stroke-width: 4; }
  #ring .label { font-size: 11px; fill: #333; } #ring .big { font-size: 28px; font-weight: bold; fill: #1f3b57; } #ring .small { font-size: 13px; fill: #555; }
  aside { flex: 1; min-width: 260px; }
  aside h2, section h2 { font-size: 15px; margin: 0 0 6px; }
  #changes { list-style: none; padding: 0; margin: 0; max-height: 520px; overflow: auto; font-size: 13px; }
  #changes li { padding: 2px 0; border-bottom: 1px solid #eee; } #changes time { color: #777; }
  section { padding: 0 20px 20px; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; font-size: 13px; }
  tr.self td { font-weight: bold; }
  .state { padding: 1px 6px; border-radius: 8px; color: #fff; }
  .state.alive { background: #2e9d57; } .state.suspect { background: #e6a100; } .state.failed { background: #d0392b; } .state.left { background: #8c8c8c; }
</style>
</head>
<body>
<header><h1>Shoal</h1><span>the cluster as node <b id="node">…</b> sees it</span><span id="status">connecting…</span></header>
<main>
  <svg id="ring" viewBox="0 0 600 600" role="img" aria-label="members of the cluster, coloured by state"></svg>
  <aside>
    <h2>Changes seen while this page is open</h2>
    <p id="no-changes">None yet. Start or stop a node, or set a tag, and it shows here.</p>
    <ol id="changes"></ol>
  </aside>
</main>
<section>
  <h2>Members</h2>
  <table><thead><tr><th>id</th><th>address</th><th>state</th><th>incarnation</th><th>tags</th></tr></thead><tbody id="members-body"></tbody></table>
</section>
<script src="/live-view.js"></script>
</body>
</html>
`;
