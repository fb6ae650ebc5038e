/**
 * The 3-node example, each node in its own child process (node-child.ts): they join
 * through one seed, a tag change spreads, one node is SIGKILLed (failed at both others
 * within the bound computed from the configuration), one leaves gracefully (left, never
 * failed) and, once stopped, its process exits by itself.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { resolveConfig, retransmitLimit, suspicionMinMs } from '@shoal/core';
import { ChildNode, CLUSTER, destroyChildren, FAST, FAST_POOL, failureDetectionBoundMs, makeCa, SCHEDULING_SLACK_MS, until, type ChildConfig, type ChildLine } from './support.js';

afterAll(async () => {
  await destroyChildren();
}, 20_000);

const CONFIG = resolveConfig('local', FAST);

describe('three nodes in three processes', () => {
  it('join through one seed, a tag change spreads, SIGKILL → failed within the bound, leave → left and never failed, stopped processes exit by themselves', async () => {
    const ca = await makeCa();
    const spec = async (id: string, seeds: string[]): Promise<ChildConfig> => ({
      id,
      cluster: CLUSTER,
      seeds,
      preset: 'local',
      config: FAST,
      pool: FAST_POOL,
      tls: await ca.tls(id),
    });
    const n1 = await ChildNode.start(await spec('n1', []));
    const [n2, n3] = await Promise.all([ChildNode.start(await spec('n2', [n1.address])), ChildNode.start(await spec('n3', [n1.address]))]);
    const all = [n1, n2, n3];

    // Join: every process sees all three alive.
    await until(
      async () => (await Promise.all(all.map((n) => n.members()))).every((ms) => ms.length === 3 && ms.every((m) => m.state === 'alive')),
      15_000,
      'all three alive in every process',
    );

    // A tag change on n2 spreads to n1 and n3.
    const tags = { role: 'api', zone: 'z1' };
    const self = (await n2.request('tags', { tags }))['self'] as { incarnation: number };
    for (const n of [n1, n3]) {
      await n.waitFor((l) => l.ev === 'member' && l['id'] === 'n2' && l['type'] === 'updated' && JSON.stringify(l['tags']) === JSON.stringify(tags), 5000, 'n2 tag update');
      const m = (await n.members()).find((x) => x.id === 'n2')!;
      expect(m.tags).toEqual(tags);
      expect(m.incarnation).toBe(self.incarnation);
    }

    // SIGKILL n2: n1 and n3 mark it failed within the bound computed from the configuration.
    // With n = 3 live members:
    //   bound = 2·(n−1)·probeIntervalMs                         worst wait until someone probes n2
    //         + suspicionMult·max(1, log10 n)·probeIntervalMs     suspicion timeout (k = round(suspicionMult) − 2 = 0:
    //                                                             no confirmations expected, so the minimum)
    //         + retransmitMult·⌈log10(n+1)⌉·gossipIntervalMs    spread of the "failed" update
    //         + scheduling slack
    const n = 3;
    expect(Math.round(CONFIG.suspicionMult) - 2).toBe(0);
    const bound = 2 * (n - 1) * CONFIG.probeIntervalMs + suspicionMinMs(CONFIG, n) + retransmitLimit(CONFIG, n) * CONFIG.gossipIntervalMs + SCHEDULING_SLACK_MS;
    expect(bound).toBe(failureDetectionBoundMs(CONFIG, n));
    n2.signal('SIGKILL');
    const killedAt = Date.now();
    const failedAt: number[] = [];
    for (const obs of [n1, n3]) {
      const line = await obs.waitFor((l) => l.ev === 'member' && l['id'] === 'n2' && l['type'] === 'failed', bound + 5000, 'n2 failed');
      failedAt.push((line['at'] as number) - killedAt);
    }
    for (const t of failedAt) expect(t).toBeLessThanOrEqual(bound);
    expect((await n2.exited).signal).toBe('SIGKILL');

    // n3 leaves gracefully: n1 sees it left, never failed.
    const leaveFrom = n1.lines.length;
    await n3.request('leave');
    await n1.waitFor((l) => l.ev === 'member' && l['id'] === 'n3' && l['type'] === 'left', 5000, 'n3 left', leaveFrom);
    expect(n1.memberEvents('n3', 'failed')).toEqual([]); // never, from the start of the test
    expect(n1.lines.slice(leaveFrom).filter((l) => l.ev === 'member' && l['id'] === 'n3' && l['type'] !== 'left')).toEqual([]);
    expect((await n1.members()).find((m) => m.id === 'n3')?.state).toBe('left');

    // Stopped, a node's process exits by itself (nothing holds its event loop), with code 0.
    const exits: string[] = [];
    for (const node of [n3, n1]) {
      await node.request('stop');
      const stopped = await node.waitFor((l: ChildLine) => l.ev === 'stopped', 5000, 'stopped line');
      const exit = await Promise.race([node.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000).unref())]);
      expect(exit).toBeDefined();
      expect(exit!.code).toBe(0);
      expect(exit!.at - (stopped['at'] as number)).toBeLessThan(3000);
      exits.push(`${node.id} ${exit!.at - (stopped['at'] as number)} ms`);
    }
    process.stdout.write(
      `[three-nodes] SIGKILL → failed at n1, n3 after ${failedAt.join(', ')} ms (bound ${bound} ms from local + ${JSON.stringify({ probeIntervalMs: CONFIG.probeIntervalMs, suspicionMult: CONFIG.suspicionMult, gossipIntervalMs: CONFIG.gossipIntervalMs, retransmitMult: CONFIG.retransmitMult })}); exit after stop: ${exits.join(', ')}\n`,
    );
  }, 60_000);
});
