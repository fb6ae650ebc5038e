import { Injectable } from '@nestjs/common';
import type { PoolStats } from '@shoal/transport-quic';
import { ShoalStatsReader } from './stats-reader.js';

/** The QUIC connection pool's statistics. */
@Injectable()
export class ConnectionPool {
  constructor(private readonly reader: ShoalStatsReader) {}

  stats(): PoolStats {
    return this.reader.read().pool;
  }
}
