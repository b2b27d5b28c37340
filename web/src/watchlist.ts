// The user's watchlist: symbols kept in this browser's localStorage (no account needed).

const KEY = "stocksim.watchlist";
const VIEW_KEY = "stocksim.watchlist.view";

function read(): string[] {
  try {
    const value: unknown = JSON.parse(localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(value) ? value.filter((s): s is string => typeof s === "string" && /^[A-Z.]{1,10}$/.test(s)) : [];
  } catch {
    return []; // unreadable (edited by hand, or storage off): start empty
  }
}

function write(symbols: string[]): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(symbols));
  } catch {
    // private mode or full storage: the list lives for this page only
  }
}

let symbols = read();

export const watchlist = {
  has: (symbol: string) => symbols.includes(symbol),
  size: () => symbols.length,
  toggle(symbol: string): void {
    symbols = symbols.includes(symbol) ? symbols.filter((s) => s !== symbol) : [...symbols, symbol].sort();
    write(symbols);
  },
  view: (): "all" | "watchlist" => (localStorage.getItem(VIEW_KEY) === "watchlist" ? "watchlist" : "all"),
  setView(view: "all" | "watchlist"): void {
    try {
      localStorage.setItem(VIEW_KEY, view);
    } catch {
      // as above
    }
  },
};
