/**
 * The admin routes, read from the controllers' own metadata (so docs, probes and tests
 * can check against what the app really serves).
 */
import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { HealthController } from './health.controller.js';
import { LiveViewController } from './live-view.controller.js';
import { MembersController } from './members.controller.js';
import { MetricsController } from './metrics.controller.js';

export const ADMIN_CONTROLLERS = [HealthController, MetricsController, MembersController, LiveViewController];

export interface AdminRoute {
  method: string;
  path: string;
}

function join(...parts: string[]): string {
  const p = parts
    .flatMap((s) => s.split('/'))
    .filter((s) => s.length > 0)
    .join('/');
  return `/${p}`;
}

export function adminRoutes(): AdminRoute[] {
  const out: AdminRoute[] = [];
  for (const ctrl of ADMIN_CONTROLLERS) {
    const base = String(Reflect.getMetadata(PATH_METADATA, ctrl) ?? '');
    const proto = ctrl.prototype as unknown as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor') continue;
      const fn = proto[name];
      if (typeof fn !== 'function') continue;
      const path = Reflect.getMetadata(PATH_METADATA, fn) as string | undefined;
      const method = Reflect.getMetadata(METHOD_METADATA, fn) as RequestMethod | undefined;
      if (path === undefined || method === undefined) continue;
      out.push({ method: RequestMethod[method], path: join(base, path) });
    }
  }
  return out;
}
