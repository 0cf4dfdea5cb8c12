import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The Flask app serves the build from web/static/; `npm run dev` serves the sources with hot reload
// and passes /api on to the API that `make run` started (on SMARTSUPPORT_PORT).
export default defineConfig({
  plugins: [react()],
  build: { outDir: "../static", emptyOutDir: true },
  server: { proxy: { "/api": `http://127.0.0.1:${process.env.SMARTSUPPORT_PORT ?? 8000}` } },
});
