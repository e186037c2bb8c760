import { defineConfig } from 'vitest/config';

// Tests live in test/, mirroring engine/src and player/src. They drive real ffmpeg, real
// onnxruntime sessions and real sockets, so they are slower than unit tests: generous timeouts,
// and files run in parallel only up to the machine's two cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
