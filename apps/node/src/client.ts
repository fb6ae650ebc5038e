/**
 * A small client of a node's admin API, for the `shoal` command. Every failure becomes
 * an AdminClientError with a one-line message.
 */
import { connectHost, formatHostPort, parseHostPort } from './address.js';

export const DEFAULT_CLIENT_TIMEOUT_MS = 5000;
/** Largest response body read (a members list of ~10 000 members fits). */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export class AdminClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminClientError';
  }
}

export interface MemberView {
  id: string;
  address: string;
  state: string;
  incarnation: number;
  tags: Record<string, string>;
}

/** `host:port` → base URL; wildcard hosts (0.0.0.0, ::) become loopback. Throws RangeError on a bad address. */
export function adminBaseUrl(hostPort: string): string {
  const { host, port } = parseHostPort(hostPort, { minPort: 1 });
  return `http://${formatHostPort(connectHost(host), port!)}`;
}

function describeNetworkError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code) return code;
  return cause?.message ?? (e as Error).message;
}

export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = DEFAULT_CLIENT_TIMEOUT_MS,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      if ((e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError')
        throw new AdminClientError(`no answer from the node at ${this.baseUrl} within ${this.timeoutMs} ms`);
      throw new AdminClientError(`cannot reach the node at ${this.baseUrl} (${describeNetworkError(e)}): is it running? pick another with --http host:port`);
    }
    const len = Number(res.headers.get('content-length') ?? 0);
    if (len > MAX_RESPONSE_BYTES) throw new AdminClientError(`the node at ${this.baseUrl} sent ${len} bytes, over ${MAX_RESPONSE_BYTES}`);
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw new AdminClientError(`the node at ${this.baseUrl} broke off its answer (${describeNetworkError(e)})`);
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new AdminClientError(`the node at ${this.baseUrl} answered ${res.status} with something that is not JSON (is it a Shoal node?)`);
    }
    if (!res.ok) {
      const m = (json as { message?: unknown } | undefined)?.message;
      const reason = Array.isArray(m) ? m.join('; ') : typeof m === 'string' ? m : res.statusText;
      throw new AdminClientError(`the node at ${this.baseUrl} answered ${res.status}: ${reason}`);
    }
    return json as T;
  }

  members(query: { tags?: string[]; states?: string[] } = {}): Promise<{ node: string; members: MemberView[] }> {
    const p = new URLSearchParams();
    for (const t of query.tags ?? []) p.append('tag', t);
    for (const s of query.states ?? []) p.append('state', s);
    const qs = p.toString();
    return this.request('GET', `/v1/members${qs ? `?${qs}` : ''}`);
  }

  self(): Promise<MemberView> {
    return this.request('GET', '/v1/self');
  }

  setTags(tags: Record<string, string>): Promise<MemberView> {
    return this.request('PUT', '/v1/self/tags', { tags });
  }

  leave(): Promise<{ id: string; status: string }> {
    return this.request('POST', '/v1/leave');
  }
}

function tagText(tags: Record<string, string>): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(',');
}

/** An aligned table, one member a row, in the manner of `serf members`. */
export function membersTable(members: readonly MemberView[]): string {
  const rows = [['ID', 'ADDRESS', 'STATE', 'INCARNATION', 'TAGS'], ...members.map((m) => [m.id, m.address, m.state, String(m.incarnation), tagText(m.tags)])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}
