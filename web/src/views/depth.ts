import type { Book, Level } from "../api";
import { h } from "../dom";
import { money } from "../money";

const SVG = "http://www.w3.org/2000/svg";
const W = 300;
const H = 110;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * Cumulative size by price: bids step down to the left of the mid, asks up to the right. The
 * house's unlimited quotes cannot be drawn to scale, so they are a dashed "house" wall; floats
 * are fine here: it is a picture, not an amount.
 */
export function depthChart(): { el: HTMLElement; paint: (b: Book) => void } {
  const picture = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "depth", role: "img", "aria-label": "Depth chart" });
  const note = h("p", { class: "muted small depth-note" });
  const el = h("div", { class: "depth-box", "data-testid": "depth-chart" }, picture, note);

  const paint = (b: Book) => {
    picture.replaceChildren();
    const bids = b.bids.slice(0, 20);
    const asks = b.asks.slice(0, 20);
    const prices = [...bids, ...asks].map((l) => Number(l.price));
    if (!prices.length) {
      note.textContent = "No quotes yet.";
      return;
    }
    const lo = Math.min(...prices);
    const hi = Math.max(...prices);
    const pad = (hi - lo) * 0.05 || hi * 0.001 || 1;
    const x = (p: number) => ((p - (lo - pad)) / (hi - lo + 2 * pad)) * W;
    const cumulative = (levels: Level[]) => {
      let sum = 0;
      return levels.map((l) => ({ price: Number(l.price), size: (sum += l.qty ?? 0), house: l.qty === null }));
    };
    const bidSteps = cumulative(bids);
    const askSteps = cumulative(asks);
    const max = Math.max(1, ...bidSteps.map((s) => s.size), ...askSteps.map((s) => s.size));
    const y = (size: number) => H - 4 - (size / max) * (H - 16);
    const area = (steps: typeof bidSteps, cls: string) => {
      if (!steps.some((s) => s.size > 0)) return;
      let d = `M ${x(steps[0].price)} ${H - 4}`;
      let prev = H - 4;
      for (const s of steps) {
        d += ` L ${x(s.price)} ${prev} L ${x(s.price)} ${y(s.size)}`;
        prev = y(s.size);
      }
      const edge = cls === "bid" ? 0 : W;
      d += ` L ${edge} ${prev} L ${edge} ${H - 4} Z`;
      picture.append(svg("path", { d, class: `depth-${cls}` }));
    };
    area(bidSteps, "bid");
    area(askSteps, "ask");
    const walls = [bidSteps.find((s) => s.house), askSteps.find((s) => s.house)];
    for (const [i, s] of walls.entries()) {
      if (!s) continue;
      picture.append(svg("line", { x1: x(s.price), x2: x(s.price), y1: 2, y2: H - 4, class: "depth-house" }));
      // Labels on two rows (they may sit close), each on the side of its wall with room.
      const wall = x(s.price);
      const right = wall < W - 90;
      const label = svg("text", {
        x: wall + (right ? 3 : -3),
        y: i === 0 ? 10 : 21,
        class: "depth-label",
        "text-anchor": right ? "start" : "end",
      });
      label.textContent = `house ∞ ${money(String(s.price.toFixed(2)))}`;
      picture.append(label);
    }
    const finite = [...bids, ...asks].some((l) => l.qty !== null);
    note.textContent = finite
      ? `Cumulative shares of resting orders (largest ${max.toLocaleString()}); dashed: the house's unlimited quotes.`
      : "Only the house quotes now: unlimited size at its bid and ask (dashed).";
  };
  return { el, paint };
}
