/**
 * A REFERENCE for the transport benchmark, not a product: the same protocol core (SwimNode,
 * lan preset, the same codec) over plain UDP datagrams (node:dgram), without QUIC, TLS,
 * streams or a pool, woken by one timer armed the way NodeRuntime arms it. Run in the
 * same cluster setup and process settings as the QUIC nodes, it measures what the core and
 * a Node process cost on this machine with the cheapest possible transport: the floor any
 * transport built on Node sits on. Nothing here authenticates or retransmits; never use
 * it outside the benchmark.
 *
 * `sealed`: every datagram is sealed with ChaCha20-Poly1305 (node:crypto) under one
 * fixed benchmark key, with a 12-byte nonce (a random per-node prefix + a counter) — the
 * per-datagram cost of authenticated datagrams, for comparison only (no key exchange, no
 * replay window).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { decode, encode, resolveConfig, SwimNode, type Clock, type Effect, type Member, type MemberQuery, type PresetName, type ShoalConfig, type SwimStats } from '@shoal/core';

/** Same slack as NodeRuntime's timer (Node starts timers from the loop's cached time). */
const TIMER_SLACK_MS = 4;

export interface UdpCoreNodeOptions {
  id: string;
  seeds: string[];
  preset: PresetName;
  config?: Partial<ShoalConfig>;
  clock: Clock;
  sealed?: boolean;
}

const BENCH_KEY = Buffer.alloc(32, 7);
const NONCE = 12;
const TAG = 16;

/** nonce ‖ ciphertext ‖ tag. */
function seal(plain: Uint8Array, nonce: Buffer): Buffer {
  const c = createCipheriv('chacha20-poly1305', BENCH_KEY, nonce, { authTagLength: TAG });
  return Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]);
}

function open(box: Buffer): Buffer {
  if (box.length < NONCE + TAG) throw new Error('short datagram');
  const d = createDecipheriv('chacha20-poly1305', BENCH_KEY, box.subarray(0, NONCE), { authTagLength: TAG });
  d.setAuthTag(box.subarray(box.length - TAG));
  return Buffer.concat([d.update(box.subarray(NONCE, box.length - TAG)), d.final()]);
}

export class UdpCoreNode {
  readonly id: string;
  messagesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  malformed = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private running = true;
  private readonly nonce = Buffer.concat([randomBytes(4), Buffer.alloc(8)]);
  private sent = 0n;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly core: SwimNode,
    private readonly clock: Clock,
    private readonly sealed: boolean,
  ) {
    this.id = core.self().id;
    socket.on('message', (bytes) => {
      let message;
      try {
        message = decode(sealed ? open(bytes) : bytes);
      } catch {
        this.malformed++;
        return;
      }
      this.messagesIn++;
      this.run(() => this.core.receive(message));
    });
  }

  static async start(opts: UdpCoreNodeOptions): Promise<UdpCoreNode> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const core = new SwimNode({
      id: opts.id,
      address: `127.0.0.1:${socket.address().port}`,
      config: resolveConfig(opts.preset, opts.config ?? {}),
      clock: opts.clock,
      random: { next: () => Math.random() },
    });
    const node = new UdpCoreNode(socket, core, opts.clock, opts.sealed ?? false);
    node.run(() => core.start());
    if (opts.seeds.length) node.run(() => core.join(opts.seeds));
    return node;
  }

  get address(): string {
    return this.core.address;
  }

  members(query?: MemberQuery): Member[] {
    return this.core.members(query);
  }

  stats(): SwimStats {
    return this.core.stats();
  }

  takeRttSamples(): number[] {
    return this.core.takeRttSamples();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.core.stop();
    await new Promise<void>((r) => this.socket.close(() => r()));
  }

  private run(call: () => Effect[]): void {
    if (!this.running) return;
    for (const effect of call()) {
      if (effect.kind !== 'send') continue;
      const plain = encode(effect.message);
      let bytes: Uint8Array = plain;
      if (this.sealed) {
        this.nonce.writeBigUInt64BE(++this.sent, 4);
        bytes = seal(plain, this.nonce);
      }
      const colon = effect.to.lastIndexOf(':');
      this.messagesOut++;
      this.bytesOut += bytes.byteLength;
      this.socket.send(bytes, Number(effect.to.slice(colon + 1)), effect.to.slice(0, colon));
    }
    this.arm();
  }

  /** NodeRuntime's policy: one timer, never moved later. */
  private arm(): void {
    const at = this.core.nextWakeAt();
    if (!this.running || at === undefined || (this.timer && at >= this.timerAt)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.run(() => this.core.tick());
      },
      Math.max(0, Math.ceil(at - this.clock.now())) + TIMER_SLACK_MS,
    );
  }
}
