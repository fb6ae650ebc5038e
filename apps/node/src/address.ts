/**
 * `host:port` parsing shared by the flags, the seeds and the CLI. IPv6 literals are
 * written in brackets (`[::1]:7946`).
 */
import { isIP } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function isHostname(s: string): boolean {
  return HOSTNAME.test(s);
}

/** Splits `host:port` / `[v6]:port`; the port part is returned as written (undefined when absent). */
export function splitHostPort(input: string): { host: string; port: string | undefined } | undefined {
  const s = input.trim();
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return undefined;
    const host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest === '') return { host, port: undefined };
    if (!rest.startsWith(':')) return undefined;
    return { host, port: rest.slice(1) };
  }
  const colon = s.lastIndexOf(':');
  if (colon < 0) return { host: s, port: undefined };
  if (s.indexOf(':') !== colon) return { host: s, port: undefined }; // bare IPv6 without brackets
  return { host: s.slice(0, colon), port: s.slice(colon + 1) };
}

export interface HostPortRules {
  /** Smallest port accepted (0 lets the OS pick a free one). */
  minPort: 0 | 1;
  /** Host must be an IP literal (or `localhost`), not a DNS name. */
  ipOnly?: boolean;
  /** The port may be left out (returned as undefined). */
  portOptional?: boolean;
}

/** Why `input` is not a valid address under `rules`, or undefined when it is. */
export function hostPortProblem(input: string, rules: HostPortRules): string | undefined {
  const parts = splitHostPort(input);
  if (!parts || parts.host === '') return 'expected host:port';
  const { host, port } = parts;
  if (isIP(host) === 0) {
    if (rules.ipOnly && host !== 'localhost') return `host ${JSON.stringify(host)} must be an IP address`;
    if (!isHostname(host)) return `host ${JSON.stringify(host)} is neither an IP address nor a DNS name`;
  }
  if (port === undefined) return rules.portOptional ? undefined : 'expected host:port (the port is missing)';
  if (!/^[0-9]{1,5}$/.test(port)) return `port ${JSON.stringify(port)} is not a number`;
  const n = Number(port);
  if (n < rules.minPort || n > 65535) return `port ${n} is outside ${rules.minPort}-65535`;
  return undefined;
}

/** Parses an address already checked with hostPortProblem(). `localhost` becomes 127.0.0.1 when `ipOnly`. */
export function parseHostPort(input: string, rules: HostPortRules): { host: string; port: number | undefined } {
  const problem = hostPortProblem(input, rules);
  if (problem) throw new RangeError(`${JSON.stringify(input)}: ${problem}`);
  const { host, port } = splitHostPort(input)!;
  return { host: rules.ipOnly && host === 'localhost' ? '127.0.0.1' : host, port: port === undefined ? undefined : Number(port) };
}

/** `host:port`, with brackets around IPv6 literals. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A host good for connecting to a listener bound on `host` (the wildcard addresses become loopback). */
export function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}
