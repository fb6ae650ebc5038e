/**
 * The live view (src/admin/live-view.ts): what it reports as changes, where it puts the dots,
 * and the shipped script itself, run in a VM context against a small fake DOM and fetch.
 */
import vm from 'node:vm';
import { describe, expect, it } from '@jest/globals';
import { LIVE_VIEW_HTML, liveViewScript, memberChanges, ringLayout, type ViewMember } from '../src/admin/live-view.js';

const m = (id: string, state = 'alive', tags: Record<string, string> = {}, incarnation = 0): ViewMember => ({ id, address: `127.0.0.1:${7000 + id.length}`, state, incarnation, tags });

describe('live view: changes between polls', () => {
  it('reports nothing on the first poll', () => {
    expect(memberChanges(undefined, [m('a'), m('b')], 1)).toEqual([]);
  });

  it('reports joins, state changes, tag changes and members gone from the table, by id', () => {
    const before = [m('c', 'alive', { role: 'api' }), m('a'), m('b', 'suspect'), m('z', 'left')];
    const after = [m('b', 'failed'), m('a', 'alive', { zone: 'x' }), m('c', 'alive', { role: 'api' }), m('d', 'suspect')];
    expect(memberChanges(before, after, 42)).toEqual([
      { at: 42, id: 'a', what: 'tags', detail: 'zone=x' },
      { at: 42, id: 'b', what: 'state', detail: 'suspect → failed' },
      { at: 42, id: 'd', what: 'joined', detail: 'suspect' },
      { at: 42, id: 'z', what: 'gone', detail: 'left' },
    ]);
  });

  it('compares tags by content, not key order; removed tags show as (none)', () => {
    expect(memberChanges([m('a', 'alive', { x: '1', y: '2' })], [m('a', 'alive', { y: '2', x: '1' })], 1)).toEqual([]);
    expect(memberChanges([m('a', 'alive', { x: '1' })], [m('a')], 1)).toEqual([{ at: 1, id: 'a', what: 'tags', detail: '(none)' }]);
  });
});

describe('live view: ring layout', () => {
  it.each([1, 2, 5, 24, 25, 119, 120, 121, 500, 1000])('%i members: one dot each, inside the picture, none overlapping', (n) => {
    const size = 600;
    const dots = ringLayout(n, size, 24);
    expect(dots).toHaveLength(n);
    for (const d of dots) {
      expect(d.r).toBeGreaterThanOrEqual(2);
      expect(d.x - d.r).toBeGreaterThanOrEqual(0);
      expect(d.y - d.r).toBeGreaterThanOrEqual(0);
      expect(d.x + d.r).toBeLessThanOrEqual(size);
      expect(d.y + d.r).toBeLessThanOrEqual(size);
    }
    let closest = Infinity;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) closest = Math.min(closest, Math.hypot(dots[i]!.x - dots[j]!.x, dots[i]!.y - dots[j]!.y) - dots[i]!.r - dots[j]!.r);
    if (n > 1) expect(closest).toBeGreaterThan(0);
  });

  it('starts at the top and keeps the margin free', () => {
    const [first] = ringLayout(3, 600, 90);
    expect(first!.x).toBeCloseTo(300);
    expect(first!.y).toBeCloseTo(90);
  });
});

// ---- the shipped script against a fake DOM -------------------------------------------------

class FakeNode {
  children: FakeNode[] = [];
  attrs: Record<string, string> = {};
  textContent = '';
  className = '';
  hidden = false;
  constructor(readonly tag: string) {}
  setAttribute(k: string, v: string): void {
    this.attrs[k] = v;
  }
  appendChild(c: FakeNode): FakeNode {
    this.children.push(c);
    return c;
  }
  append(...cs: FakeNode[]): void {
    this.children.push(...cs);
  }
  replaceChildren(...cs: FakeNode[]): void {
    this.children = [...cs];
  }
  /** All text below this node, as a browser's textContent would give it for elements built from children. */
  text(): string {
    return this.textContent + this.children.map((c) => c.text()).join('');
  }
  all(tag: string): FakeNode[] {
    return this.children.flatMap((c) => [...(c.tag === tag ? [c] : []), ...c.all(tag)]);
  }
}

/** Runs the live view's script with a fake document, fetch and setTimeout; `answers` are the successive /v1/members replies. */
async function runPage(answers: ({ node: string; members: ViewMember[] } | Error)[]): Promise<{ byId: Map<string, FakeNode>; polls: () => Promise<void>; title: () => string }> {
  const ids = ['ring', 'node', 'members-body', 'changes', 'no-changes', 'status'];
  const byId = new Map(ids.map((id) => [id, new FakeNode(id)]));
  const document = {
    title: '',
    getElementById: (id: string) => byId.get(id),
    createElement: (tag: string) => new FakeNode(tag),
    createElementNS: (_ns: string, tag: string) => new FakeNode(tag),
  };
  const timers: (() => void)[] = [];
  let next = 0;
  let settle: () => void = () => {};
  const context = vm.createContext({
    document,
    Date,
    Math,
    Object,
    Map,
    Set,
    String,
    Error,
    Promise,
    AbortSignal: { timeout: () => undefined },
    setTimeout: (fn: () => void) => {
      timers.push(fn);
      settle();
    },
    fetch: async (url: string) => {
      expect(url).toBe('/v1/members');
      const a = answers[Math.min(next++, answers.length - 1)]!;
      if (a instanceof Error) throw a;
      return { ok: true, status: 200, json: async () => JSON.parse(JSON.stringify(a)) as unknown };
    },
  });
  const waitForTimer = () => new Promise<void>((resolve) => (settle = resolve));
  const first = waitForTimer();
  vm.runInContext(liveViewScript(), context);
  await first;
  return {
    byId,
    polls: async () => {
      const done = waitForTimer();
      timers.shift()!();
      await done;
    },
    title: () => document.title,
  };
}

describe('live view: the page script', () => {
  it('draws a dot and a row per member, outlines this node, lists later changes and says when the node is unreachable', async () => {
    const three = [m('n1', 'alive', { role: 'api' }), m('n2'), m('n3')];
    const page = await runPage([
      { node: 'n1', members: three },
      { node: 'n1', members: [three[0]!, m('n2', 'suspect'), three[2]!] },
      new Error('connection refused'),
      { node: 'n1', members: [three[0]!, m('n2', 'failed'), three[2]!, m('n4')] },
    ]);
    const ring = page.byId.get('ring')!;
    const dots = ring.all('circle');
    expect(dots).toHaveLength(3);
    expect(dots.map((d) => d.attrs['class'])).toEqual(['self', 'member', 'member']);
    expect(dots.every((d) => d.attrs['fill'] === '#2e9d57')).toBe(true);
    expect(dots[0]!.all('title')[0]!.textContent).toContain('n1 · 127.0.0.1:7002 · alive · incarnation 0 · role=api');
    expect(page.byId.get('members-body')!.all('tr')).toHaveLength(3);
    expect(page.byId.get('node')!.textContent).toBe('n1');
    expect(page.title()).toBe('Shoal · n1');
    expect(page.byId.get('no-changes')!.hidden).toBe(false);
    expect(page.byId.get('status')!.className).toBe('ok');

    await page.polls();
    expect(ring.all('circle')[1]!.attrs['fill']).toBe('#e6a100');
    expect(page.byId.get('changes')!.all('li').map((li) => li.text())).toEqual([expect.stringContaining('n2 alive → suspect')]);
    expect(page.byId.get('no-changes')!.hidden).toBe(true);

    await page.polls();
    expect(page.byId.get('status')!.className).toBe('error');
    expect(page.byId.get('status')!.textContent).toContain('cannot reach the node (connection refused)');
    expect(ring.all('circle')).toHaveLength(3); // the last picture stays

    await page.polls();
    expect(ring.all('circle')).toHaveLength(4);
    expect(page.byId.get('changes')!.all('li').map((li) => li.text())).toEqual([
      expect.stringContaining('n4 joined: alive'),
      expect.stringContaining('n2 suspect → failed'),
      expect.stringContaining('n2 alive → suspect'),
    ]);
    expect(ring.text()).toContain('3 alive');
    expect(ring.text()).toContain('of 4 known · 0 suspect · 1 failed · 0 left');
  });

  it('writes member ids and tags as text, never as markup', async () => {
    const evil = m('<img src=x onerror=alert(1)>', 'alive', { '<b>': '"><script>' });
    const page = await runPage([{ node: 'n1', members: [m('n1'), evil] }]);
    const row = page.byId.get('members-body')!.all('tr')[0]!;
    expect(row.all('td')[0]!.textContent).toBe('<img src=x onerror=alert(1)>');
    expect(liveViewScript()).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('the page loads only its own script', () => {
    expect(LIVE_VIEW_HTML).toContain('<script src="/live-view.js"></script>');
    expect(LIVE_VIEW_HTML.match(/<script/g)).toHaveLength(1);
  });
});
