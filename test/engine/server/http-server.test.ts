/** The server's choice of onnxruntime threads (the rest of http-server.ts is covered by the ws, hls and e2e tests). */
import { describe, expect, it } from 'vitest';
import { serverThreads } from '../../../engine/src/server/http-server.js';

describe('serverThreads', () => {
  it('leaves one core free on small machines and keeps onnxruntime’s default on larger ones', () => {
    expect([1, 2, 3, 4, 5, 16].map((c) => serverThreads(c))).toEqual([1, 1, 2, 3, 0, 0]);
  });
});
