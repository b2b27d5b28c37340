// Same-origin calls: the session cookie (HttpOnly) goes along by itself; the custom header is the
// CSRF defence the server requires on cookie-authenticated state changes.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly detail: unknown,
  ) {
    super(describe(status, error, detail));
  }
}

function describe(status: number, error: string, detail: unknown): string {
  if (Array.isArray(detail)) {
    return detail
      .map((d: { loc?: unknown[]; msg?: string }) => {
        const field = (d.loc ?? []).filter((p) => p !== "body").join(".");
        return field ? `${field}: ${d.msg}` : String(d.msg);
      })
      .join("; ");
  }
  if (typeof detail === "string" && detail) return sentence(detail);
  // No JSON error body (a proxy's HTML page, a restart): say what happened in words.
  if (status === 0) return "Could not reach the server";
  if (error === `http_${status}`) {
    return status >= 500 ? `Server unavailable (${status})` : `Request failed (${status})`;
  }
  return sentence(error.replace(/_/g, " "));
}

const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** What the page does about failures that are not one screen's business (main.ts sets them). */
export const failures = {
  /** A 401 outside the sign-in calls: the session expired or was revoked. */
  expired: (): void => undefined,
  /** A read failed (`path`) or came back (`error` null): the banner shows or clears. */
  read: (_path: string, _error: ApiError | null): void => undefined,
};

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { "X-Requested-With": "stocksim-web" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw report(method, path, new ApiError(0, "network", null));
  }
  if (response.status === 204) return done(method, path, undefined as T);
  const json = (response.headers.get("content-type") ?? "").includes("json");
  const data: unknown = json ? await response.json().catch(() => ({})) : {};
  if (!response.ok) {
    const d = data as { error?: string; detail?: unknown };
    const error = new ApiError(response.status, d.error ?? `http_${response.status}`, d.detail);
    // /session/* answers 401 for a wrong password: that is the form's business, not an expiry.
    if (response.status === 401 && !path.startsWith("/session")) failures.expired();
    throw report(method, path, error);
  }
  return done(method, path, data as T);
}

function report(method: string, path: string, error: ApiError): ApiError {
  if (method === "GET" && error.status !== 401) failures.read(path, error);
  return error;
}

function done<T>(method: string, path: string, value: T): T {
  if (method === "GET") failures.read(path, null);
  return value;
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
  market_ts: string | null;
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
