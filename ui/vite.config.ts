// Vite builds the UI into dist/ (committed, embedded by ui/embed.go).
// `npm run dev` serves it with /api proxied to a running sluice
// (SLUICE_ADMIN, default http://127.0.0.1:9900).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/ui/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': { target: process.env.SLUICE_ADMIN ?? 'http://127.0.0.1:9900', ws: true },
    },
  },
});
