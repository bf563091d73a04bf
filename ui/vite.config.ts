/// <reference types="vitest/config" />
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";
import tailwindcss from "@tailwindcss/vite";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * The Content-Security-Policy of the built page: scripts and styles from the
 * app's own origin only, no eval (Alpine's CSP build needs none), IPC to the
 * Tauri core. Dev builds go without it (Vite's dev server injects styles).
 */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self' ipc: http://ipc.localhost",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** index.html and demo.html share one body: src/app.html, put in at <!-- cortex:app -->. */
function appMarkup(): Plugin {
  const file = here("./src/app.html");
  return {
    name: "cortex-app-markup",
    transformIndexHtml: {
      order: "pre",
      handler: (html) => html.replace("<!-- cortex:app -->", () => readFileSync(file, "utf8")),
    },
    configureServer(server) {
      server.watcher.add(file);
      server.watcher.on("change", (p) => {
        if (p === file) server.ws.send({ type: "full-reload" });
      });
    },
  };
}

function cspMeta(): Plugin {
  return {
    name: "cortex-csp",
    apply: "build",
    transformIndexHtml: () => [
      { tag: "meta", attrs: { "http-equiv": "Content-Security-Policy", content: CSP }, injectTo: "head" },
    ],
  };
}

// The Tauri shell loads dist/ in production and this dev server (port 1420,
// the Tauri convention) in development. Only index.html is built; demo.html
// (sample data, development only) is served by `vite` and built only by
// `npm run build:demo` into .demo-dist/ for headless screenshots.
export default defineConfig(({ mode }) => ({
  plugins: [appMarkup(), tailwindcss(), cspMeta()],
  clearScreen: false,
  envPrefix: ["VITE_", "TAURI_ENV_"],
  server: {
    port: 1420,
    strictPort: true,
    watch: { ignored: ["**/src-tauri/**"] },
  },
  build: {
    outDir: mode === "demo" ? ".demo-dist" : "dist",
    emptyOutDir: true,
    target: ["es2021", "chrome105", "safari15"],
    sourcemap: false,
    rollupOptions: { input: mode === "demo" ? here("./demo.html") : here("./index.html") },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
}));
