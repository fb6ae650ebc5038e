/** Messages between the benchmark parent and its children (IPC, structured clone / JSON). */
import type { UdpCounters } from '../lib/udp-meter.js';

export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export type ParentMessage = { seq: number } & (
  | {
      type: 'start-nodes';
      cluster: string;
      preset: string;
      config?: Record<string, unknown>;
      pool?: Record<string, number>;
      endpoint?: Record<string, number | boolean>;
      seeds: string[];
      nodes: { id: string; tls: TlsMaterial }[];
      /** 'udp': the reference node (udp-core-node.ts) instead of a NodeRuntime over QUIC. */
      transport?: 'quic' | 'udp' | 'udp-sealed' | 'memberlist';
    }
  | { type: 'start-endpoint'; id: string; cluster: string; tls: TlsMaterial; endpoint?: Record<string, number | boolean> }
  | { type: 'sample'; gc?: boolean }
  | { type: 'dial-bench'; target: string; n: number }
  | { type: 'hold'; target: string; n: number }
  | { type: 'rtt-bench'; target: string; n: number; intervalMs?: number }
  | { type: 'release' }
  | { type: 'wake'; everyMs: number }
  /** From now on record when each node first sees member `id` suspect and failed (NodeSample.watched). */
  | { type: 'watch'; id: string }
  | { type: 'stop' }
);

export interface NodeSample {
  id: string;
  alive: number;
  suspect: number;
  failed: number;
  probes: number;
  probeSuccesses: number;
  probeFailures: number;
  indirectProbes: number;
  suspicions: number;
  failuresDeclared: number;
  refutations: number;
  pushPulls: number;
  /** Protocol messages sent, by type (cumulative). */
  sent: Record<string, number>;
  /** Probe round trips (ms) since the previous sample (the core hands them over once). */
  rtts: number[];
  messagesOut: number;
  messagesIn: number;
  frameBytesOut: number;
  sendFailures: number;
  poolOpen: number;
  poolDials: number;
  poolDialFailures: number;
  poolEvictions: number;
  poolIdleClosed: number;
  poolExhausted: number;
  poolInboundRefused: number;
  endpointInbound: number;
  endpointOutbound: number;
  endpointInboundTotal: number;
  endpointOutboundTotal: number;
  /** After a `watch`: when this node first saw the watched member suspect / failed (ms since the epoch). */
  watched?: { id: string; suspectAt?: number; failedAt?: number };
}

export interface ChildSample {
  pid: number;
  /** Wall time and CPU time (process.cpuUsage) when sampling began… */
  at: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  /** …and when it ended (user + system): a window from this sample to a later one's start leaves out the cost of sampling. */
  atAfter: number;
  cpuAfterUs: number;
  rss: number;
  /** VmRSS, VmHWM, RssAnon, RssFile, RssShmem in bytes (Linux). */
  procStatus: Record<string, number>;
  /** CPU ticks (1/100 s) by thread: 'main' and other threads summed by name (Linux). */
  threadTicks: Record<string, number>;
  v8PhysicalBytes: number;
  v8MallocedBytes: number;
  heapUsed: number;
  external: number;
  udp: UdpCounters;
  nodes: NodeSample[];
  held: number;
}
