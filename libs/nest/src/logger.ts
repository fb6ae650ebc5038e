import { Logger as NestLogger } from '@nestjs/common';
import type { Logger as PinoLogger } from 'pino';

/** The few log calls the module makes, on pino when given, else on Nest's Logger. */
export interface ShoalLog {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export function shoalLog(pino: PinoLogger | undefined, context = 'ShoalModule'): ShoalLog {
  if (pino) {
    const child = pino.child({ component: context });
    return { warn: (o, m) => child.warn(o, m), error: (o, m) => child.error(o, m) };
  }
  const nest = new NestLogger(context);
  const fmt = (o: Record<string, unknown>, m: string): string =>
    `${m} ${JSON.stringify(o, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`;
  return { warn: (o, m) => nest.warn(fmt(o, m)), error: (o, m) => nest.error(fmt(o, m)) };
}
