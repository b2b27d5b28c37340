// Market time in the header (GET /clock, shared/clock_api.py): it runs `time_scale` times faster
// than the wall clock, so the page advances it locally between reads. A service without the
// clock (404) simply shows none.

interface Clock {
  timestamp: string;
  is_open: boolean;
  next_open: string;
  next_close: string;
  trading_day: string;
  time_scale: number;
  wall_time: string;
}

const RESYNC_MS = 60_000;

/** "-05:00" → minutes east of UTC (the market zone is fixed; shown as is, not as local time). */
function offsetMinutes(iso: string): number {
  const m = /([+-])(\d{2}):(\d{2})$/.exec(iso);
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

function format(ms: number, offset: number, withDay: boolean): string {
  return new Date(ms + offset * 60_000).toLocaleString([], {
    timeZone: "UTC",
    weekday: withDay ? "short" : undefined,
    month: withDay ? "short" : undefined,
    day: withDay ? "numeric" : undefined,
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });
}

export function marketClock(el: HTMLElement): void {
  let clock: Clock | null = null;
  let readAt = 0;
  let nextRead = 0;
  const read = async () => {
    nextRead = Date.now() + RESYNC_MS;
    try {
      const response = await fetch("/clock", { credentials: "same-origin" });
      if (response.status === 404) {
        window.clearInterval(timer); // no market clock in this deployment
        el.hidden = true;
        return;
      }
      if (!response.ok) return; // keep counting from the last reading
      clock = (await response.json()) as Clock;
      readAt = Date.now();
      paint();
    } catch {
      // offline: the connection indicator says so; keep counting
    }
  };
  const paint = () => {
    if (!clock) return;
    const offset = offsetMinutes(clock.timestamp);
    const now = Date.parse(clock.timestamp) + (Date.now() - readAt) * clock.time_scale;
    const close = Date.parse(clock.next_close);
    if (now >= close && Date.now() < nextRead) nextRead = Date.now(); // a new session: re-read
    const zone = offset === 0 ? "UTC" : `UTC${offset < 0 ? "−" : "+"}${Math.abs(offset / 60)}`;
    el.hidden = false;
    el.textContent = clock.is_open
      ? `Market open · ${format(now, offset, true)} · closes ${format(close, offset, false)}`
      : `Market closed · opens ${format(Date.parse(clock.next_open), offset, true)}`;
    el.title = `Market time (${zone}), ${clock.time_scale}× the wall clock; trading day ${clock.trading_day}`;
  };
  const timer = window.setInterval(() => {
    if (Date.now() >= nextRead) void read();
    else paint();
  }, 1000);
  void read();
}
