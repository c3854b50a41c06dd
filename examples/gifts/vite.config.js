import { defineConfig } from "vite";

export default defineConfig({
  // @relay/client is linked from clients/js, which has React and Immer of its own for its tests: one copy each.
  resolve: { dedupe: ["react", "react-dom", "immer"] },
  // JSX with React's automatic runtime, without a plugin.
  esbuild: { jsx: "automatic" },
});
