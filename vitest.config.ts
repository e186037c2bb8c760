import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests live in test/, mirroring engine/src, samples/src and player/src. They drive real ffmpeg,
// real onnxruntime sessions and real sockets, so they are slower than unit tests: generous
// timeouts, and files run in parallel only up to the machine's two cores. `cineseg` resolves to
// the engine's sources so tests never depend on a stale build.
export default defineConfig({
  resolve: {
    alias: { cineseg: fileURLToPath(new URL('./engine/src/index.ts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
