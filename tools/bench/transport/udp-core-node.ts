/**
 * A REFERENCE for the transport benchmark, not a product: the same protocol core (SwimNode,
 * lan preset, the same codec) over plain UDP datagrams (node:dgram), without QUIC, TLS,
 * streams or a pool, woken by one timer armed the way NodeRuntime arms it. Run in the
 * same cluster setup and process settings as the QUIC nodes, it measures what the core and
 * a Node process cost on this machine with the cheapest possible transport: the floor any
 * transport built on Node sits on. Nothing here authenticates or retransmits; never use
 * it outside the benchmark.
 *
 * `sealed`: every datagram is sealed and opened with the transport's own DatagramSealer /
 * DatagramOpener (datagrams.ts: ChaCha20-Poly1305, replay window) — the per-datagram cost of
 * sealed datagrams without QUIC, for comparison only. No key exchange: each node seals with
 * a key derived from its own random key id (SHA-256 of it), which every receiver derives
 * again from the datagram's header.
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { decode, encode, resolveConfig, SwimNode, type Clock, type Effect, type Member, type MemberQuery, type PresetName, type ShoalConfig, type SwimStats } from '@shoal/core';
import { DatagramOpener, DatagramSealer, DeadlineTimer, datagramKeyId, isSealedDatagram, newKeyOffer, type DatagramKeyOffer } from '@shoal/transport-quic';

export interface UdpCoreNodeOptions {
  id: string;
  seeds: string[];
  preset: PresetName;
  config?: Partial<ShoalConfig>;
  clock: Clock;
  sealed?: boolean;
}

/** The benchmark's stand-in for a key exchange: a key id's key is the SHA-256 of the id. */
function benchOffer(id: number): DatagramKeyOffer {
  return { id, key: createHash('sha256').update(String(id)).digest() };
}

/** Opens datagrams from any sender, one opener (and replay window) per sender key id. */
class BenchOpeners {
  private readonly byKey = new Map<number, DatagramOpener>();

  open(b: Uint8Array): Uint8Array {
    if (!isSealedDatagram(b)) throw new Error('not a sealed datagram');
    const id = datagramKeyId(b);
    let opener = this.byKey.get(id);
    if (!opener) this.byKey.set(id, (opener = new DatagramOpener(benchOffer(id))));
    const payload = opener.open(b);
    if (typeof payload === 'string') throw new Error(payload);
    return payload;
  }
}

export class UdpCoreNode {
  readonly id: string;
  messagesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  malformed = 0;
  private readonly timer: DeadlineTimer;
  private running = true;
  private readonly sealer: DatagramSealer | undefined;
  private readonly openers: BenchOpeners | undefined;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly core: SwimNode,
    private readonly clock: Clock,
    sealed: boolean,
  ) {
    this.id = core.self().id;
    this.timer = new DeadlineTimer(clock, () => this.run(() => this.core.tick()));
    if (sealed) {
      this.sealer = new DatagramSealer(benchOffer(newKeyOffer().id));
      this.openers = new BenchOpeners();
    }
    socket.on('message', (bytes) => {
      const receivedAt = this.clock.now(); // as NodeRuntime's endpoint stamps its datagrams
      let message;
      try {
        message = decode(this.openers ? this.openers.open(bytes) : bytes);
      } catch {
        this.malformed++;
        return;
      }
      this.messagesIn++;
      this.run(() => this.core.receive(message, receivedAt));
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
    this.timer.cancel();
    this.core.stop();
    await new Promise<void>((r) => this.socket.close(() => r()));
  }

  private run(call: () => Effect[]): void {
    if (!this.running) return;
    for (const effect of call()) {
      if (effect.kind !== 'send') continue;
      const plain = encode(effect.message);
      const bytes = this.sealer ? this.sealer.seal(plain) : plain;
      const colon = effect.to.lastIndexOf(':');
      this.messagesOut++;
      this.bytesOut += bytes.byteLength;
      this.socket.send(bytes, Number(effect.to.slice(colon + 1)), effect.to.slice(0, colon));
    }
    if (this.running) this.timer.arm(this.core.nextWakeAt()); // NodeRuntime's timer policy
  }
}
