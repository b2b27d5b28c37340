// Same-origin calls: the session cookie (HttpOnly) goes along by itself; the custom header is the
// CSRF defence the server requires on cookie-authenticated state changes.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly detail: unknown,
  ) {
    super(describe(error, detail));
  }
}

function describe(error: string, detail: unknown): string {
  if (Array.isArray(detail)) {
    return detail
      .map((d: { loc?: unknown[]; msg?: string }) => {
        const field = (d.loc ?? []).filter((p) => p !== "body").join(".");
        return field ? `${field}: ${d.msg}` : String(d.msg);
      })
      .join("; ");
  }
  return typeof detail === "string" && detail ? detail : error;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { "X-Requested-With": "stocksim-web" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const data: unknown = await response.json().catch(() => ({}));
  if (!response.ok) {
    const d = data as { error?: string; detail?: unknown };
    throw new ApiError(response.status, d.error ?? `http_${response.status}`, d.detail);
  }
  return data as T;
}

export const get = <T>(path: string) => api<T>("GET", path);

export interface Session {
  account_id: string;
  username: string;
  email: string;
}
export interface Fill {
  price: string;
  qty: number;
  ts: string;
}
export interface Order {
  id: string;
  symbol: string;
  side: "buy" | "sell";
  type: "market" | "limit" | "stop" | "stop_limit";
  time_in_force: string;
  qty: number;
  limit_price: string | null;
  stop_price: string | null;
  status: string;
  filled_qty: number;
  filled_avg_price: string | null;
  reject_reason: string | null;
  created_at: string;
  updated_at: string;
  fills: Fill[];
}
export interface Position {
  symbol: string;
  qty: number;
  avg_cost: string;
  last_price: string | null;
  market_value: string | null;
  unrealized_pnl: string | null;
}
export interface Portfolio {
  cash: string;
  reserved_cash: string;
  buying_power: string;
  equity: string;
  realized_pnl: string;
  unrealized_pnl: string;
  positions: Position[];
}
export interface WatchRow {
  symbol: string;
  price: string;
  ts: string;
  open: string;
  change: string;
  change_pct: string;
  sparkline: string[];
}
export interface Candle {
  start: string;
  end: string;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: number;
}
export interface Level {
  price: string;
  qty: number | null;
  orders: number;
  house: boolean;
}
export interface Book {
  bids: Level[];
  asks: Level[];
}
export interface Print {
  price: string;
  qty: number;
  aggressor_side: string;
  ts: string;
}
export interface Leader {
  rank: number;
  name: string;
  equity: string;
  return_pct: string;
  positions: number;
}
