// How every Redis connection the router shares state through behaves: a command fails at once while Redis is away
// (the caller serves from local state instead of waiting for it to come back), and the connection retries with a
// backoff capped at one second.
import type { RedisOptions } from "ioredis";

export const FAIL_FAST_REDIS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: (times: number) => Math.min(50 * times, 1000),
};
