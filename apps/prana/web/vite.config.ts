import path from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The console: `vite build` writes static files the BFF serves at / (dist/apps/prana/web);
// `vite` (or `nx serve prana`) serves it with hot reload and proxies the BFF's routes to PRANA_BFF_URL.
const root = __dirname;
const bff = process.env.PRANA_BFF_URL ?? 'http://127.0.0.1:4200';

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  resolve: {
    alias: { '@pancha/prana-telemetry': path.resolve(root, '../../../libs/prana-telemetry/src/index.ts') },
  },
  build: {
    outDir: path.resolve(root, '../../../dist/apps/prana/web'),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    port: Number(process.env.PRANA_WEB_PORT ?? 5173),
    proxy: { '/api': bff, '/auth': bff, '/oidc': bff },
  },
});
