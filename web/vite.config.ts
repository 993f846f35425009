import { defineConfig } from "vite";

// No React plugin: JSX is compiled by Vite's own transform (automatic runtime); the app
// needs no fast refresh to be built and tested.
export default defineConfig({
  base: "./",
  oxc: { jsx: { runtime: "automatic" } },
  build: { target: "es2022", sourcemap: false, chunkSizeWarningLimit: 600 },
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
});
