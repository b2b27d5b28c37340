// Market time on the page. The server does the clock's maths (shared/market_clock.py) and sends
// market-time instants (candles, a tick's `market_ts`, a fill's `market_time`); the page only
// reads them on the market's axis.

// The market's fixed zone (MARKET_TZ in shared/market_clock.py): UTC−05:00, no daylight saving.
const MARKET_OFFSET_MS = -5 * 3_600_000;

/** The trading day (YYYY-MM-DD) of a market-time instant: its date in the market zone, where
 * every session (09:30–16:00) lies within one date. */
export function tradingDay(marketTs: string): string {
  return new Date(Date.parse(marketTs) + MARKET_OFFSET_MS).toISOString().slice(0, 10);
}

/** The market-time minute of a tick (the 1m candle it falls in); wall `ts` for a tick without
 * `market_ts` (an older producer). */
export function marketMinute(tick: { ts: string; market_ts?: string | null }): number {
  return Math.floor(Date.parse(tick.market_ts ?? tick.ts) / 60_000);
}
