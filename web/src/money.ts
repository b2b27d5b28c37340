// Money stays exact in the page too: decimal strings become integer cents (bigint), never floats.

export function toCents(text: string): bigint | null {
  const m = /^\s*(-)?(\d+)(?:\.(\d{1,2}))?\s*$/.exec(text);
  if (!m) return null;
  const cents = BigInt(m[2]) * 100n + BigInt((m[3] ?? "").padEnd(2, "0"));
  return m[1] ? -cents : cents;
}

export function fromCents(cents: bigint): string {
  const sign = cents < 0n ? "-" : "";
  const abs = cents < 0n ? -cents : cents;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}${whole}.${(abs % 100n).toString().padStart(2, "0")}`;
}

/** "1234.5" → "1,234.50"; null/undefined → "—". */
export function money(text: string | null | undefined): string {
  if (text == null) return "—";
  const cents = toCents(text);
  return cents === null ? text : fromCents(cents);
}

export function signClass(text: string | null | undefined): string {
  if (!text) return "";
  return text.startsWith("-") ? "down" : /^[0.]+$/.test(text) ? "" : "up";
}

export function signed(text: string): string {
  return (text.startsWith("-") ? "" : "+") + money(text);
}
