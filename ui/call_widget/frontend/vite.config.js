// Builds the call widget into ../build, which Streamlit serves as a v1 component (no CDN).
// Fixed file names keep the committed build comparable byte for byte (tests/ui/test_call_widget_build.py).
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  logLevel: "warn",
  build: {
    outDir: "../build",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2048,
    rollupOptions: {
      output: {
        entryFileNames: "assets/widget.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
        inlineDynamicImports: true,
      },
    },
  },
});
