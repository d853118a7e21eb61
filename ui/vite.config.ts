import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// Tauri serves ui/dist (frontendDist) and uses http://localhost:5173 in dev (devUrl).
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  server: {
    // Default host ("localhost") on purpose: it must answer devUrl http://localhost:5173.
    port: 5173,
    strictPort: true,
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Everything must load under the app's CSP (script-src/style-src 'self'):
    // keep assets as files rather than inlined data: URLs.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
});
