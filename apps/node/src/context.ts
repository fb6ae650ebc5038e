/**
 * What the Nest application of a node is given at bootstrap (the settings after flag
 * parsing, the id it runs as, its logger) and the hook that starts a graceful shutdown.
 */
import type { Logger } from 'pino';
import type { NodeSettings } from './flags.js';

export const NODE_CONTEXT = Symbol('shoal.node.context');

export interface NodeContext {
  settings: NodeSettings;
  id: string;
  /** Logger whose lines carry `node: <id>`. */
  log: Logger;
  /** The same logger without bindings (for libraries that add their own). */
  rootLog: Logger;
  /** Starts the graceful shutdown (leave, close, exit 0); used by POST /v1/leave. */
  requestShutdown(reason: string): void;
}
