/**
 * The PostgreSQL implementation of {@link AnnotationStore} (skeleton: being written).
 */
import { CinesegError, ErrorCode } from '../errors.js';
import type { AnnotationStore } from './annotation-store.js';

export interface PostgresStoreOptions {
  readonly?: boolean;
  /** Connections in the pool (default 4). */
  poolSize?: number;
}

export class PostgresStore {
  static async open(url: string, _opts: PostgresStoreOptions = {}): Promise<AnnotationStore> {
    throw new CinesegError(ErrorCode.E_STORE_UNAVAILABLE, `PostgreSQL store not built yet: ${url}`);
  }
}
