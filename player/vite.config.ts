import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Plain esbuild JSX (React 17+ automatic runtime): @vitejs/plugin-react needs vite 8, which
// needs a newer Node than the project's 20. Fast refresh is the only thing lost.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  esbuild: { jsx: 'automatic' },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, target: 'es2022', chunkSizeWarningLimit: 1500 },
  server: { proxy: { '/ws': { target: 'ws://127.0.0.1:8080', ws: true }, '/api': 'http://127.0.0.1:8080', '/hls': 'http://127.0.0.1:8080' } },
});
