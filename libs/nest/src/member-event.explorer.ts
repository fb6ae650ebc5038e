import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { MemberEvent, MemberEventType } from '@shoal/core';
import { SHOAL_MEMBER_EVENT_METADATA, SHOAL_OPTIONS } from './constants.js';
import { ShoalEventBus } from './event-bus.js';
import { shoalLog, type ShoalLog } from './logger.js';
import type { ResolvedShoalOptions } from './options.js';

export interface MemberEventHandlerRef {
  /** Class name and method, for logs. */
  readonly name: string;
  readonly types: readonly MemberEventType[];
}

/**
 * Finds @OnMemberEvent methods on every singleton provider and controller when the modules
 * initialise and subscribes them to the member events. Events held before bootstrap are
 * delivered to them when the application bootstraps.
 */
@Injectable()
export class MemberEventExplorer implements OnModuleInit {
  private readonly handlerList: MemberEventHandlerRef[] = [];
  private readonly log: ShoalLog;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly bus: ShoalEventBus,
    @Inject(SHOAL_OPTIONS) options: ResolvedShoalOptions,
  ) {
    this.log = shoalLog(options.logger, 'OnMemberEvent');
  }

  /** The handlers found. */
  get handlers(): readonly MemberEventHandlerRef[] {
    return this.handlerList;
  }

  onModuleInit(): void {
    const found: Array<{ ref: MemberEventHandlerRef; call: (e: MemberEvent) => unknown }> = [];
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    const seen = new Set<object>();
    for (const wrapper of wrappers) {
      const instance: unknown = wrapper.instance;
      if (!instance || typeof instance !== 'object' || seen.has(instance)) continue;
      if (!wrapper.isDependencyTreeStatic()) continue;
      seen.add(instance);
      const proto = Object.getPrototypeOf(instance) as object | null;
      if (!proto) continue;
      for (const method of this.scanner.getAllMethodNames(proto)) {
        const fn = (instance as Record<string, unknown>)[method];
        if (typeof fn !== 'function') continue;
        const types = this.reflector.get<MemberEventType[] | undefined>(SHOAL_MEMBER_EVENT_METADATA, fn as (...a: unknown[]) => unknown);
        if (!types?.length) continue;
        const ref = { name: `${instance.constructor?.name ?? 'anonymous'}.${method}`, types };
        found.push({ ref, call: (e) => (fn as (e: MemberEvent) => unknown).call(instance, e) });
      }
    }
    this.handlerList.push(...found.map((f) => f.ref));
    if (!found.length) return;
    // Handlers keep receiving during the graceful leave; the subscription ends when the bus completes.
    this.bus.events$.subscribe((event) => {
      for (const { ref, call } of found) {
        if (!ref.types.includes(event.type)) continue;
        try {
          const r = call(event);
          if (r && typeof (r as Promise<unknown>).then === 'function')
            (r as Promise<unknown>).then(undefined, (err: unknown) => this.failed(ref, event, err));
        } catch (err) {
          this.failed(ref, event, err);
        }
      }
    });
  }

  private failed(ref: MemberEventHandlerRef, event: MemberEvent, err: unknown): void {
    this.log.error({ handler: ref.name, event: event.type, member: event.member.id, err }, 'member event handler failed');
  }
}
