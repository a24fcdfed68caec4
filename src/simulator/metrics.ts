export interface SimulatorCounters {
  /** PATCH requests received on Graph paths. */
  requests: number;
  /** PATCH answers by status code; connections destroyed without an answer are under "dropped". */
  byStatus: Record<string, number>;
  throttled: number;
  refusedWhileThrottled: number;
  applied: number;
  appliedTwice: number;
  staleWrites: number;
  /** GET requests received on Graph paths (lists and single objects). */
  reads: number;
  /** GET answers by status code. */
  readsByStatus: Record<string, number>;
  /** Graph requests (any method) per bearer token, valid or not. */
  authorizationSeen: Record<string, number>;
}

export interface RequestLogEntry {
  at: number;
  method: string;
  path: string;
  status: number | 'dropped';
  tenantId?: string;
  appId?: string;
  body?: unknown;
  /** Headers a Graph client should send on every request, as received. */
  clientRequestId?: string;
  accept?: string;
}

export const REQUEST_LOG_CAPACITY = 200_000;

export function emptyCounters(): SimulatorCounters {
  return {
    requests: 0,
    byStatus: {},
    throttled: 0,
    refusedWhileThrottled: 0,
    applied: 0,
    appliedTwice: 0,
    staleWrites: 0,
    reads: 0,
    readsByStatus: {},
    authorizationSeen: {},
  };
}

/** Ring buffer, because shifting a 200k-element array on every request would dominate load tests. */
export class RequestLog {
  private entries: RequestLogEntry[] = [];
  private next = 0;

  constructor(private readonly capacity = REQUEST_LOG_CAPACITY) {}

  add(entry: RequestLogEntry): void {
    if (this.entries.length < this.capacity) {
      this.entries.push(entry);
    } else {
      this.entries[this.next] = entry;
      this.next = (this.next + 1) % this.capacity;
    }
  }

  /** Oldest first; `limit` keeps only the most recent entries. */
  list(limit?: number): RequestLogEntry[] {
    const ordered = this.entries.slice(this.next).concat(this.entries.slice(0, this.next));
    return limit !== undefined && limit < ordered.length ? ordered.slice(ordered.length - limit) : ordered;
  }

  clear(): void {
    this.entries = [];
    this.next = 0;
  }
}

export function increment(record: Record<string, number>, key: string): void {
  const value = (Object.hasOwn(record, key) ? record[key] : 0) + 1;
  // defineProperty, because a client sending the token "__proto__" must not touch the prototype.
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}
