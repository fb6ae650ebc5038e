import { afterEach, describe, expect, it } from '@jest/globals';
import { resolveSeeds, SeedJoiner, type JoinTarget, type LookupFn } from '../src/seeds.js';

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

class FakeRuntime implements JoinTarget {
  address = '10.0.0.1:7946';
  running = true;
  joined = true;
  peers = 0;
  joins: string[][] = [];
  /** A seed answers every join at once. */
  seedsAnswer = false;
  join(seeds: readonly string[]): void {
    this.joins.push([...seeds]);
    this.joined = this.seedsAnswer || seeds.every((s) => s === this.address);
  }
  isReady(): boolean {
    return this.joined;
  }
  peerCount(): number {
    return this.peers;
  }
}

describe('resolveSeeds', () => {
  it('passes IP literals through, resolves names (IPv4 first), reports failures', async () => {
    const lookup: LookupFn = async (host) => {
      if (host === 'svc.example') return [
        { address: '::2', family: 6 },
        { address: '10.0.0.3', family: 4 },
      ];
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    };
    const r = await resolveSeeds(
      [
        { host: '10.0.0.2', port: 7946 },
        { host: 'svc.example', port: 7000 },
        { host: 'gone.example', port: 7946 },
      ],
      lookup,
    );
    expect(r.addresses).toEqual(['10.0.0.2:7946', '10.0.0.3:7000', '[::2]:7000']);
    expect(r.failures).toEqual([{ seed: 'gone.example:7946', error: 'getaddrinfo ENOTFOUND gone.example' }]);
  });

  it('gives up on a lookup that hangs, after the timeout', async () => {
    const r = await resolveSeeds([{ host: 'slow.example', port: 1 }], () => new Promise(() => undefined), 30);
    expect(r.addresses).toEqual([]);
    expect(r.failures[0]!.error).toMatch(/timed out after 30 ms/);
  });
});

describe('SeedJoiner', () => {
  let joiner: SeedJoiner | undefined;
  afterEach(() => joiner?.stop());

  it('resolves the names again on every retry until the node has joined', async () => {
    const rt = new FakeRuntime();
    let calls = 0;
    let answer: string | undefined;
    const lookup: LookupFn = async () => {
      calls++;
      if (!answer) throw new Error('ENOTFOUND');
      return [{ address: answer, family: 4 }];
    };
    joiner = new SeedJoiner(rt, { seeds: [{ host: 'node-0.shoal', port: 7946 }], retryBaseMs: 5, retryMaxMs: 20, lookup });
    expect(joiner.satisfied).toBe(false);
    joiner.start();
    await until(() => calls >= 3);
    expect(rt.joins).toEqual([]); // nothing resolved yet: nothing handed to the runtime
    expect(joiner.satisfied).toBe(false);
    answer = '10.0.0.9';
    await until(() => rt.joins.length >= 2);
    expect(rt.joins[0]).toEqual(['10.0.0.9:7946']);
    answer = '10.0.0.10'; // the seed moved while we were still not joined: the next round uses the new address
    await until(() => rt.joins.at(-1)![0] === '10.0.0.10:7946');
    rt.joined = true; // a seed answered
    rt.peers = 1;
    await until(() => joiner!.satisfied);
    const n = rt.joins.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(rt.joins.length).toBe(n); // joined and not alone: no more joins
  });

  it('is satisfied at once without seeds, and when the only seed is itself', async () => {
    const rt = new FakeRuntime();
    expect(new SeedJoiner(rt, { seeds: [], retryBaseMs: 5, retryMaxMs: 5 }).satisfied).toBe(true);
    joiner = new SeedJoiner(rt, { seeds: [{ host: 'me.example', port: 7946 }], retryBaseMs: 5, retryMaxMs: 5, lookup: async () => [{ address: '10.0.0.1', family: 4 }] });
    joiner.start();
    await until(() => joiner!.satisfied);
    expect(rt.joins).toEqual([['10.0.0.1:7946']]);
  });

  it('when alone after joining, joins again only if the seeds resolve elsewhere', async () => {
    const rt = new FakeRuntime();
    let answer = '10.0.0.5';
    let calls = 0;
    const lookup: LookupFn = async () => {
      calls++;
      return [{ address: answer, family: 4 }];
    };
    joiner = new SeedJoiner(rt, { seeds: [{ host: 'node-0.shoal', port: 7946 }], retryBaseMs: 5, retryMaxMs: 10, lookup });
    rt.seedsAnswer = true; // joins at once, but stays alone (the others went away)
    joiner.start();
    await until(() => calls >= 4);
    expect(rt.joins.length).toBe(1);
    answer = '10.0.0.6';
    await until(() => rt.joins.length === 2);
    expect(rt.joins[1]).toEqual(['10.0.0.6:7946']);
  });

  it('stops: no rounds after stop()', async () => {
    const rt = new FakeRuntime();
    let calls = 0;
    joiner = new SeedJoiner(rt, {
      seeds: [{ host: 'x.example', port: 1 }],
      retryBaseMs: 5,
      retryMaxMs: 5,
      lookup: async () => {
        calls++;
        throw new Error('ENOTFOUND');
      },
    });
    joiner.start();
    await until(() => calls >= 2);
    joiner.stop();
    const n = calls;
    await new Promise((r) => setTimeout(r, 40));
    expect(calls).toBeLessThanOrEqual(n + 1);
  });
});
