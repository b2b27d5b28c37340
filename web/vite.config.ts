import { defineConfig } from "vite";

// `npm run dev` proxies the API and the WebSocket to a running trading service (make run).
const api = process.env.STOCKSIM_API ?? "http://127.0.0.1:8002";

export default defineConfig({
  base: "/",
  build: { outDir: "dist", assetsDir: "assets", sourcemap: false, target: "es2022" },
  server: {
    proxy: {
      "^/(session|orders|trades|portfolio|prices|orderbook|quotes|market-trades|candles|leaderboard|market-watch|trade)":
        api,
      "/ws": { target: api.replace(/^http/, "ws"), ws: true },
    },
  },
});
