// The dashboard's one charting module: SVG line, band, point and bar charts on shared axes.
// Chart.draw(el, {series: [...], xLabel, yLabel, xTime}) replaces el's content with an <svg>;
// with xTime, x values are times in ms since the epoch and the axis shows dates (UTC); with
// xCategories (names), x values are the categories' indices (bar charts).
// A series is {type: "line"|"band"|"points"|"bars", label, color, x, y | lo+hi, opacity};
// points with `clamp` leave the y range to the rest, and one beyond it sits on the edge.
"use strict";
const Chart = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 760, H = 300, M = { l: 56, r: 12, t: 26, b: 34 };

  function node(tag, attrs, parent) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (parent) parent.appendChild(n);
    return n;
  }

  // About five to eight round tick values covering [lo, hi].
  function ticks(lo, hi) {
    const raw = (hi - lo) / 8 || 1;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => raw <= s);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
    return out;
  }

  function extent(values) {
    const finite = values.filter(Number.isFinite);
    let lo = Math.min(...finite), hi = Math.max(...finite);
    if (!finite.length) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.05;
    return [lo - pad, hi + pad];
  }

  function fmt(v) {
    const a = Math.abs(v);
    return a >= 1e4 || (a > 0 && a < 1e-2) ? v.toExponential(1) : String(+v.toFixed(3));
  }

  // Round times covering [lo, hi] (ms since the epoch, UTC), about four to eight of them:
  // whole seconds, minutes, hours or days of a round step, or the starts of months or years,
  // with the label that step needs ("03-14 15:00", "2026-03-14", "2026-03", "2026").
  const SEC = 1e3, MIN = 60 * SEC, HOUR = 60 * MIN, DAY = 24 * HOUR;
  const STEPS = [SEC, 5 * SEC, 15 * SEC, 30 * SEC, MIN, 5 * MIN, 15 * MIN, 30 * MIN,
    HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY];
  const MONTHS = [1, 2, 3, 6, 12, 24, 60, 120, 240, 600];
  function timeTicks(lo, hi) {
    const iso = (v) => new Date(v).toISOString();
    const step = STEPS.find((s) => (hi - lo) / s <= 8);
    if (step) {
      const values = [];
      for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) values.push(v);
      const label = step >= DAY ? (v) => iso(v).slice(0, 10)
        : step >= MIN ? (v) => iso(v).slice(5, 16).replace("T", " ")
        : (v) => iso(v).slice(11, 19);
      return { values, label };
    }
    const months = MONTHS.find((m) => (hi - lo) / (m * 30.44 * DAY) <= 8) || 1200;
    // month starts counted from year 0, so that the steps fall on round months and years
    const start = new Date(lo);
    const first = start.getUTCFullYear() * 12 + start.getUTCMonth() + 1;
    const at = (k) => Date.UTC(Math.floor(k / 12), k % 12);
    const values = [];
    for (let k = Math.ceil(first / months) * months; at(k) <= hi; k += months) values.push(at(k));
    return { values, label: (v) => iso(v).slice(0, months >= 12 ? 4 : 7) };
  }

  function draw(el, spec) {
    const xs = spec.series.flatMap((s) => s.x);
    // null marks a missing value: left out of the range, and a gap in a line.
    const ys = spec.series.filter((s) => !s.clamp)
      .flatMap((s) => (s.type === "band" ? [...s.lo, ...s.hi] : s.y))
      .filter((v) => v !== null && v !== undefined);
    if (spec.type === "bars" || spec.series.some((s) => s.type === "bars")) ys.push(0);
    const [x0, x1] = spec.xDomain || (spec.xCategories ? [-0.5, spec.xCategories.length - 0.5] : extent(xs));
    const [y0, y1] = spec.yDomain || extent(ys);
    const sx = (v) => M.l + ((v - x0) / (x1 - x0)) * (W - M.l - M.r);
    const sy = (v) => H - M.b - ((v - y0) / (y1 - y0)) * (H - M.t - M.b);
    const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
    if (spec.title) node("title", {}, svg).textContent = spec.title;
    const axes = node("g", { class: "axes" }, svg);
    for (const v of ticks(y0, y1)) {
      node("line", { x1: M.l, x2: W - M.r, y1: sy(v), y2: sy(v), class: "grid" }, axes);
      node("text", { x: M.l - 6, y: sy(v) + 4, "text-anchor": "end" }, axes).textContent = fmt(v);
    }
    // Time axes (x in ms since the epoch): round times (`timeTicks`).
    // Categories (bars): x is the category's index, labelled by its name under each bar.
    const cats = spec.xCategories;
    const times = spec.xTime && !cats ? timeTicks(x0, x1) : null;
    const xTicks = cats ? cats.map((_, i) => i) : times ? times.values : ticks(x0, x1);
    const xFmt = cats ? (i) => cats[i] : times ? times.label : fmt;
    for (const v of xTicks) {
      node("text", { x: sx(v), y: H - M.b + 16, "text-anchor": "middle" }, axes).textContent =
        xFmt(v);
    }
    if (spec.xLabel) {
      node("text", { x: W - M.r, y: H - 4, "text-anchor": "end" }, axes).textContent = spec.xLabel;
    }
    const plot = node("g", { class: "plot" }, svg);
    const slots = spec.xCategories ? spec.xCategories.length : Math.max(1, xs.length);
    const barW = ((W - M.l - M.r) / slots) * 0.8;
    for (const s of spec.series) {
      const g = node("g", { class: `series ${s.type}`, "data-label": s.label || "" }, plot);
      if (s.type === "band") {
        const top = s.x.map((x, i) => `${sx(x)},${sy(s.hi[i])}`);
        const bottom = s.x.map((x, i) => `${sx(x)},${sy(s.lo[i])}`).reverse();
        node("polygon", {
          points: [...top, ...bottom].join(" "),
          fill: s.color, "fill-opacity": s.opacity ?? 0.25, stroke: "none",
        }, g);
      } else if (s.type === "line") {
        const runs = [[]];
        s.x.forEach((x, i) => {
          if (s.y[i] === null || s.y[i] === undefined) runs.push([]);
          else runs[runs.length - 1].push(`${sx(x)},${sy(s.y[i])}`);
        });
        for (const run of runs.filter((r) => r.length)) {
          node("polyline", {
            points: run.join(" "), fill: "none", stroke: s.color, "stroke-width": s.width || 2,
            "stroke-dasharray": s.dash || "none",
          }, g);
        }
      } else if (s.type === "points") {
        s.x.forEach((x, i) => {
          if (s.y[i] === null || s.y[i] === undefined) return;  // missing: no point (not at 0)
          const y = s.clamp ? Math.min(Math.max(s.y[i], y0), y1) : s.y[i];
          node("circle", { cx: sx(x), cy: sy(y), r: s.r || 2.5, fill: s.color,
            stroke: s.ring || "none", "stroke-width": 2 }, g);
        });
      } else if (s.type === "bars") {
        const off = (s.offset || 0) * barW;
        s.x.forEach((x, i) => node("rect", {
          x: sx(x) - barW / 2 + off, width: barW / (s.of || 1), fill: s.color,
          y: Math.min(sy(0), sy(s.y[i])), height: Math.abs(sy(0) - sy(s.y[i])),
        }, g));
      }
    }
    // Legend along the top, one entry per labelled series.
    let lx = M.l;
    for (const s of spec.series.filter((s) => s.label)) {
      node("rect", { x: lx, y: 8, width: 10, height: 10, fill: s.color, stroke: s.ring || "none",
        "stroke-width": 2, "fill-opacity": s.type === "band" ? s.opacity ?? 0.25 : 1 }, svg);
      const t = node("text", { x: lx + 14, y: 17, class: "legend" }, svg);
      t.textContent = s.label;
      lx += 24 + 7 * s.label.length;
    }
    el.replaceChildren(svg);
    return svg;
  }

  return { draw };
})();
