/**
 * The example's settings, from environment variables (all optional):
 *   SHOAL_ID        node id                          default "example-<pid>"
 *   SHOAL_CLUSTER   cluster name                     default "example"
 *   SHOAL_BIND      gossip "host:port" (UDP, QUIC)   default 127.0.0.1:0 (any free port)
 *   SHOAL_SEEDS     comma list of "host:port"        default none (a one-node cluster)
 *   SHOAL_TAGS      comma list of k=v                default none
 *   SHOAL_DATA_DIR  where dev certificates are kept  default .shoal/example
 *   HTTP_PORT       admin HTTP port                  default 3000 (0 = any free port)
 */
export interface ExampleSettings {
  id: string;
  cluster: string;
  bindHost: string;
  bindPort: number;
  seeds: string[];
  tags: Record<string, string>;
  dataDir: string;
  httpHost: string;
  httpPort: number;
}

export class SettingsError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`${variable}: ${reason}`);
    this.name = 'SettingsError';
  }
}

function port(variable: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new SettingsError(variable, `port must be 0-65535, got ${JSON.stringify(text)}`);
  return n;
}

function list(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): ExampleSettings {
  const bind = env['SHOAL_BIND'] ?? '127.0.0.1:0';
  const colon = bind.lastIndexOf(':');
  if (colon <= 0) throw new SettingsError('SHOAL_BIND', `expected host:port, got ${JSON.stringify(bind)}`);
  const tags: Record<string, string> = {};
  for (const pair of list(env['SHOAL_TAGS'])) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new SettingsError('SHOAL_TAGS', `expected k=v, got ${JSON.stringify(pair)}`);
    tags[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return {
    id: env['SHOAL_ID'] ?? `example-${process.pid}`,
    cluster: env['SHOAL_CLUSTER'] ?? 'example',
    bindHost: bind.slice(0, colon).replace(/^\[|\]$/g, ''),
    bindPort: port('SHOAL_BIND', bind.slice(colon + 1)),
    seeds: list(env['SHOAL_SEEDS']),
    tags,
    dataDir: env['SHOAL_DATA_DIR'] ?? '.shoal/example',
    httpHost: '127.0.0.1',
    httpPort: port('HTTP_PORT', env['HTTP_PORT'] ?? '3000'),
  };
}
