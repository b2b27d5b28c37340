// Shapes of the responses the market, portfolio and leaderboard views read beyond api.ts.
import type { Portfolio, Position } from "./api";

export interface Tick {
  symbol: string;
  price: string;
  ts: string;
  seq: number;
  market_ts?: string | null;
}

/** One of your fills (GET /trades). */
export interface MyFill {
  id: number;
  order_id: string;
  symbol: string;
  side: "buy" | "sell";
  price: string;
  qty: number;
  ts: string;
  /** The fill on the market clock: the candles' time axis (ts is wall time). */
  market_time: string;
}

export interface PositionDetail extends Position {
  cost_basis: string;
  unrealized_pnl_pct: string | null;
  day_open: string | null;
  change_today: string | null;
  price_change_today_pct: string | null;
}

export interface PortfolioDetail extends Portfolio {
  change_today: string;
  change_today_pct: string | null;
  positions: PositionDetail[];
}

/** GET /portfolio/history: Alpaca's portfolio-history shape. */
export interface PortfolioHistory {
  timestamp: number[];
  equity: string[];
  profit_loss: string[];
  profit_loss_pct: string[];
  base_value: string;
  timeframe: string;
}
