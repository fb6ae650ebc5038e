import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { ShoalModuleOptions } from './options.js';

export const {
  ConfigurableModuleClass: ShoalConfigurableModule,
  MODULE_OPTIONS_TOKEN: SHOAL_MODULE_OPTIONS,
  OPTIONS_TYPE: SHOAL_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: SHOAL_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ShoalModuleOptions>({ moduleName: 'Shoal' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

/** What forRoot() takes: the options plus `isGlobal` (default false). */
export type ShoalModuleForRootOptions = typeof SHOAL_OPTIONS_TYPE;
/** What forRootAsync() takes: `imports`, `useFactory`, `inject` (or useClass/useExisting), plus `isGlobal`. */
export type ShoalModuleAsyncOptions = typeof SHOAL_ASYNC_OPTIONS_TYPE;
