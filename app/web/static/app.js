// The dashboard's pages, routed by the URL hash: #/jobs, #/forecast, #/forecasts/ID,
// #/backtests/ID, #/streams, #/streams/ID, #/models. Each page renders into <main>.
"use strict";
const BLUE = "#2b6cb0", ORANGE = "#c05621", GREEN = "#2f855a", INK = "#1a202c", RED = "#c53030";
const FINAL = ["succeeded", "failed", "cancelled"];
let leave = () => {}; // stops the current page's polling or live feed

function h(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v);
  }
  n.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return n;
}
const main = () => document.querySelector("main");
const show = (...nodes) => main().replaceChildren(...nodes);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const col = (steps, c) => steps.map((v) => (Array.isArray(v) ? v[c] : v));
const range = (a, n) => Array.from({ length: n }, (_, i) => a + i);
const num = (v, digits) => (v === null || v === undefined ? "–" : v.toFixed(digits));
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

function jobLink(job) {
  const page = { forecast: "forecasts", stream_forecast: "forecasts", backtest: "backtests" };
  const to = page[job.kind] ? `#/${page[job.kind]}/${job.id}` : "#/models";
  return h("a", { href: to }, job.id.slice(0, 8));
}

// --- job history: filters and cursor paging ------------------------------------------------
async function jobsPage() {
  const form = h("form", { class: "filters" },
    h("label", {}, "status ", h("select", { name: "status" },
      ...["", "queued", "running", "succeeded", "failed", "cancelled"].map((s) => h("option", { value: s }, s || "any")))),
    h("label", {}, "kind ", h("select", { name: "kind" },
      ...["", "forecast", "backtest", "train", "stream_forecast"].map((s) => h("option", { value: s }, s || "any")))),
    h("label", {}, "since ", h("input", { name: "created_after", type: "date" })),
    h("button", {}, "Filter"));
  const table = h("table", { id: "jobs" });
  const pager = h("div", { class: "pager" });
  const cursors = [null]; // cursors[i] fetches page i
  let pageNo = 0;
  async function load() {
    const q = new URLSearchParams({ limit: "20" });
    for (const [k, v] of new FormData(form)) if (v) q.set(k, k === "created_after" ? `${v}T00:00:00Z` : v);
    if (cursors[pageNo]) q.set("cursor", cursors[pageNo]);
    const data = await Api.get(`/v1/jobs?${q}`);
    cursors[pageNo + 1] = data.next_cursor;
    table.replaceChildren(
      h("tr", {}, ...["job", "kind", "status", "model", "created", "took (s)", "device"].map((t) => h("th", {}, t))),
      ...data.items.map((j) => h("tr", { class: j.status },
        h("td", {}, jobLink(j)), h("td", {}, j.kind), h("td", {}, j.status),
        h("td", {}, j.model.kind || j.model.name || ""), h("td", {}, when(j.created_at)),
        h("td", {}, j.finished_at && j.started_at ? ((new Date(j.finished_at) - new Date(j.started_at)) / 1000).toFixed(2) : ""),
        h("td", {}, j.device || ""))));
    pager.replaceChildren(
      h("button", { onclick: () => { pageNo--; load(); }, ...(pageNo ? {} : { disabled: "" }) }, "← newer"),
      h("span", {}, ` page ${pageNo + 1} `),
      h("button", { onclick: () => { pageNo++; load(); }, ...(data.next_cursor ? {} : { disabled: "" }) }, "older →"));
  }
  form.onsubmit = (ev) => { ev.preventDefault(); cursors.length = 1; pageNo = 0; load(); };
  show(h("h2", {}, "Jobs"), form, table, pager);
  await load();
}

// --- submit a forecast or a backtest -------------------------------------------------------
// kinds: the server's GET /v1/kinds items the form offers (the default one first selected).
function seriesForm(kinds, onSubmit, button) {
  const demo = range(0, 80).map((i) => (10 + 3 * Math.sin(i / 4) + ((i * 7) % 5) / 5).toFixed(2));
  const field = (name, label, input) => h("label", { "data-field": name }, label, input, h("span", { class: "field-error" }));
  const form = h("form", { class: "submit" },
    field("values", "values (comma or space separated; empty, NA or null: missing)", h("textarea", { name: "values", rows: 4 }, demo.join(", "))),
    field("horizon", "horizon ", h("input", { name: "horizon", type: "number", value: 12, min: 1 })),
    field("model", "model ", h("select", { name: "kind" },
      ...kinds.map((k) => h("option", { value: k.name, title: k.summary, ...(k.default ? { selected: "" } : {}) }, k.name)))),
    field("levels", "levels % ", h("input", { name: "levels", value: "50, 80, 95" })),
    h("button", { type: "submit" }, button), h("p", { class: "error" }));
  // A server field ("series.0.values", "horizon", "model.kind") to the form field it names.
  const home = (name) => ({ series: "values", model: "model", horizon: "horizon", levels: "levels" })[name.split(".")[0]];
  const showErrors = (items, rest) => {
    form.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
    const general = [];
    for (const d of items) {
      const slot = form.querySelector(`[data-field="${home(d.field)}"] .field-error`);
      if (slot) slot.textContent = (slot.textContent ? slot.textContent + "; " : "") + d.msg;
      else general.push(`${d.field}: ${d.msg}`);
    }
    form.querySelector(".error").textContent = [...general, rest].filter(Boolean).join("; ");
  };
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    const nums = (s) => s.split(/[\s,]+/).filter(Boolean).map(Number);
    const values = [];
    const bad = [];
    f.values.split(/[\s,]+/).filter(Boolean).forEach((tok, i) => {
      if (/^(null|na|nan)$/i.test(tok)) values.push(null);
      else if (Number.isFinite(Number(tok))) values.push(Number(tok));
      else bad.push({ field: "series.0.values", msg: `item ${i}: '${tok}' is not a number` });
    });
    if (bad.length) { showErrors(bad.slice(0, 1)); return; }
    try {
      showErrors([]);
      await onSubmit({
        series: [{ id: "series", values }],
        horizon: Number(f.horizon), levels: nums(f.levels), model: { kind: f.kind },
      });
    } catch (e) { showErrors(e.detail || [], e.detail && e.detail.length ? "" : e.message); }
  };
  return form;
}

async function newForecastPage() {
  const kinds = (await Api.get("/v1/kinds")).items;
  show(h("h2", {}, "New forecast"),
    seriesForm(kinds, async (body) => {
      const job = await Api.post("/v1/forecasts", body);
      location.hash = `#/forecasts/${job.id}`;
    }, "Forecast"),
    h("h2", {}, "New backtest"),
    // A backtest refits one kind at every origin: "auto" (a choice among kinds) is not offered.
    seriesForm(kinds.filter((k) => !k.candidates), async (body) => {
      const job = await Api.post("/v1/backtests", { ...body, folds: 4 });
      location.hash = `#/backtests/${job.id}`;
    }, "Backtest"));
}

// Polls a job resource until it is final; redraws each time through render(job).
async function follow(path, render) {
  let live = true;
  leave = () => { live = false; };
  for (;;) {
    const job = await Api.get(path);
    if (!live) return;
    render(job);
    if (FINAL.includes(job.status)) return;
    await sleep(500);
  }
}

function status(job) {
  const left = job.eta_s == null ? "" : `, ~${Math.round(job.eta_s)} s left`;
  return h("p", { class: `status ${job.status}` }, `${job.kind} ${job.id} — ${job.status}`,
    job.error ? ` : ${job.error.message}` : "",
    job.status === "running" ? ` ${(job.progress * 100).toFixed(0)}%${left}` : "");
}

async function pngButton(path) {
  return h("button", { onclick: async () => window.open(URL.createObjectURL(await Api.blob(path))) }, "PNG");
}

// --- a forecast: fan chart and the std split into its parts --------------------------------
async function forecastPage(id) {
  const input = await Api.get(`/v1/forecasts/${id}/input`);
  await follow(`/v1/forecasts/${id}`, async (job) => {
    if (job.status !== "succeeded") { show(h("h2", {}, "Forecast"), status(job)); return; }
    const charts = job.result.series.map((s) => {
      const at = input.series.findIndex((p) => p.id === s.id);
      const fan = h("div", { class: "fan", "data-series": s.id });
      const parts = h("div", { class: "parts" });
      const width = Array.isArray(s.mean[0]) ? s.mean[0].length : 1;
      const draw = (c) => drawForecast(s, at >= 0 ? at : null, input, c, fan, parts);
      draw(0);
      // A multivariate forecast: one component at a time, chosen here.
      const pick = width > 1 ? h("select", { class: "component", "aria-label": "component" },
        ...range(0, width).map((i) => h("option", { value: i }, `component ${i}`))) : "";
      if (pick) pick.onchange = () => draw(Number(pick.value));
      return h("section", {}, h("h3", {}, s.id, " ", pick), fan, h("h4", {}, "Epistemic and aleatoric std"), parts);
    });
    show(h("h2", {}, "Forecast"), status(job), await pngButton(`/v1/forecasts/${id}/plot.png`), ...charts);
  });
}

// The fan chart and the std parts of component c; on a time axis when the series had times.
function drawForecast(s, at, input, c, fan, parts) {
  const times = s.timestamps && at !== null && input.grid_times[at];
  const steps = range(1, s.mean.length);
  const x = times ? s.timestamps.map(Date.parse) : steps;
  const series = [];
  if (at !== null) {
    // The history as the model saw it (on its time grid, null where missing or set aside).
    const grid = col(input.on_grid[at], c).slice();
    for (const p of s.set_aside || []) if ((p.component ?? 0) === c) grid[p.index] = null;
    const past = grid.slice(-200);
    const first = grid.length - past.length;
    const px = times ? times.slice(first).map(Date.parse) : range(1 - past.length, past.length);
    const where = (i) => (times ? Date.parse(times[i]) : i - grid.length + 1);
    series.push({ type: "line", label: "history", color: INK, width: 1, x: px, y: past });
    const shown = (cells) => cells.filter((p) => (p.component ?? 0) === c && p.index >= first);
    const imputed = shown(s.imputed || []);
    if (imputed.length) series.push({ type: "points", label: "imputed", color: ORANGE, r: 3,
      x: imputed.map((p) => where(p.index)), y: imputed.map((p) => p.mean) });
    const aside = shown(s.set_aside || []);
    const isAside = (p) => aside.some((q) => q.index === p.index);
    const flagged = shown(s.anomalies || []).filter((p) => !isAside(p));
    if (flagged.length) series.push({ type: "points", label: "anomaly", color: RED, r: 4,
      x: flagged.map((p) => where(p.index)), y: flagged.map((p) => p.value) });
    // A gross fault may be far off the scale of the rest: drawn on the edge, not rescaling it.
    if (aside.length) series.push({ type: "points", label: "set aside", color: "#fff", ring: RED,
      r: 4, clamp: true, x: aside.map((p) => where(p.index)), y: aside.map((p) => p.value) });
  }
  const levels = Object.keys(s.intervals).sort((a, b) => b - a);
  levels.forEach((L, i) => series.push({
    type: "band", label: `${L}%`, color: BLUE, opacity: 0.15 + 0.25 * (i / Math.max(1, levels.length - 1)),
    x, lo: col(s.intervals[L].lower, c), hi: col(s.intervals[L].upper, c) }));
  series.push({ type: "line", label: "mean", color: BLUE, x, y: col(s.mean, c) });
  const axis = times ? { xTime: true, xLabel: "time (UTC)" } : { xLabel: "step" };
  Chart.draw(fan, { title: `forecast of ${s.id}`, series, ...axis });
  Chart.draw(parts, { title: "predictive std by part", ...axis, series: [
    { type: "line", label: "epistemic", color: ORANGE, x, y: col(s.epistemic_std, c) },
    { type: "line", label: "aleatoric", color: GREEN, x, y: col(s.aleatoric_std, c) },
    { type: "line", label: "total", color: "#4a5568", dash: "4 3", x, y: col(s.std, c) }] });
}

// --- a backtest: coverage against nominal, CRPS by horizon ---------------------------------
async function backtestPage(id) {
  await follow(`/v1/backtests/${id}`, (job) => {
    if (job.status !== "succeeded") { show(h("h2", {}, "Backtest"), status(job)); return; }
    const sections = job.result.series.map(({ id: sid, metrics: m }) => {
      const levels = (m.levels || []).map(Number);
      const cover = h("div", { class: "coverage" }), crps = h("div", { class: "crps" });
      const at = levels.map((_, i) => i);
      Chart.draw(cover, { title: "coverage vs nominal", xLabel: "interval level", yDomain: [0, 1.05],
        xCategories: levels.map((L) => `${L}%`), series: [
          { type: "bars", label: "nominal", color: "#a0aec0", x: at, y: levels.map((L) => L / 100), of: 2, offset: 0 },
          { type: "bars", label: "empirical", color: BLUE, x: at, y: levels.map((L) => m.overall[`coverage_${L}`]), of: 2, offset: 0.5 }] });
      const perStep = m.per_step.crps;
      Chart.draw(crps, { title: "CRPS by horizon", xLabel: "step", series: [
        { type: "line", label: "CRPS", color: ORANGE, x: range(1, perStep.length), y: perStep }] });
      const o = m.overall;
      return h("section", {}, h("h3", {}, sid),
        // null: no observed value to score (a series with missing values)
        h("p", {}, `CRPS ${num(o.crps, 3)} · MASE ${num(o.mase, 3)} · sMAPE ${num(o.smape, 1)} · ${m.folds} folds`),
        cover, crps);
    });
    show(h("h2", {}, "Backtest"), status(job), ...sections);
  });
}

// --- streams: list, and one stream's analyses live -----------------------------------------
async function streamsPage() {
  const data = await Api.get("/v1/streams?limit=100");
  show(h("h2", {}, "Streams"), h("table", {},
    h("tr", {}, ...["stream", "name", "status", "t", "assimilated", "pending"].map((t) => h("th", {}, t))),
    ...data.items.map((s) => h("tr", {},
      h("td", {}, h("a", { href: `#/streams/${s.id}` }, s.id.slice(0, 8))), h("td", {}, s.name || ""),
      // A failing stream (every cycle overflowing) stands out in the list as on its page.
      s.health?.status === "failing" ? h("td", { class: "status failed" }, `${s.status} · failing`) : h("td", {}, s.status),
      h("td", {}, s.t.toFixed(2)), h("td", {}, s.n_assimilated), h("td", {}, s.pending)))));
}

async function streamPage(id) {
  const stream = await Api.get(`/v1/streams/${id}`);
  const indices = stream.config.observation.indices;
  const n = (stream.mean || stream.config.initial.mean || [0]).length;
  const select = h("select", { name: "component" }, ...range(0, Math.max(n, 1)).map((i) => h("option", { value: i }, `component ${i}`)));
  const chart = h("div", { id: "stream-chart" }), info = h("p", { class: "status" });
  const health = h("table", { id: "sensors", class: "sensors" });
  // The stream's own health: failing when every cycle since some seq overflowed.
  const alarm = h("p", { id: "stream-health", class: "status failed" });
  function drawHealth(state) {
    alarm.hidden = state.status === "ok";
    alarm.textContent = state.status === "ok" ? "" : `Failing since seq ${state.failing_since_seq}: ${state.detail}`;
  }
  const analyses = [], observations = [];
  let sensors = stream.sensors || [], sensorsAt = 0;
  // Each observed component's health: status, and the rolling rates it is judged by.
  function drawSensors() {
    const pct = (v) => `${(100 * v).toFixed(0)}%`;
    health.replaceChildren(
      h("tr", {}, ...["sensor", "component", "status", "rejected", "bias (z)", "missing", "repeats"].map((c) => h("th", {}, c))),
      ...sensors.map((s) => h("tr", { class: `sensor-${s.status}` },
        h("td", {}, s.index), h("td", {}, indices === null ? s.index : indices[s.index]), h("td", {}, s.status),
        h("td", {}, pct(s.rejection_rate)), h("td", {}, s.bias.toFixed(2)), h("td", {}, pct(s.missing_rate)),
        h("td", {}, s.repeats))));
  }
  const ctrl = new AbortController();
  leave = () => ctrl.abort();
  async function loadAll(path, into) {
    for (let cursor = "0"; ;) {
      const page = await Api.get(`${path}?cursor=${cursor}&limit=5000`);
      into.push(...page.items);
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }
  function redraw() {
    const c = Number(select.value), x = analyses.map((a) => a.t);
    const m = analyses.map((a) => a.mean[c]), s = analyses.map((a) => a.spread[c]);
    const pos = indices === null ? c : indices.indexOf(c);
    const series = [
      { type: "band", label: "± 2 spread", color: BLUE, opacity: 0.15, x, lo: m.map((v, i) => v - 2 * s[i]), hi: m.map((v, i) => v + 2 * s[i]) },
      { type: "band", label: "± 1 spread", color: BLUE, opacity: 0.3, x, lo: m.map((v, i) => v - s[i]), hi: m.map((v, i) => v + s[i]) },
      { type: "line", label: "analysis mean", color: BLUE, x, y: m }];
    if (pos >= 0) series.push({ type: "points", label: "observations", color: INK, x: observations.map((o) => o.t), y: observations.map((o) => o.values[pos]) });
    if (analyses.length) Chart.draw(chart, { title: `stream ${id}`, xLabel: "t", series });
    chart.dataset.points = String(analyses.length);
    info.textContent = `${stream.status} · ${analyses.length} analyses · last seq ${analyses.at(-1)?.seq ?? 0}`;
  }
  select.onchange = redraw;
  show(h("h2", {}, `Stream ${stream.name || ""}`), h("div", { class: "filters" }, select, await pngButton(`/v1/streams/${id}/plot.png`)), info, alarm, chart,
    h("h3", {}, "Sensors"), health);
  drawSensors();
  drawHealth(stream.health || { status: "ok" });
  await loadAll(`/v1/streams/${id}/analyses`, analyses);
  await loadAll(`/v1/streams/${id}/observations`, observations);
  redraw();
  const after = analyses.at(-1)?.seq ?? 0;
  Api.events(`/v1/streams/${id}/events?cursor=${after}`, async (name, data) => {
    if (name === "health") {
      drawHealth(data);
      return;
    }
    if (name === "sensor") {
      sensors = sensors.filter((s) => s.index !== data.index).concat([data]).sort((a, b) => a.index - b.index);
      drawSensors();
      return;
    }
    if (name !== "analysis") return;
    analyses.push(data);
    const last = () => observations.at(-1)?.seq ?? 0;
    const fresh = await Api.get(`/v1/streams/${id}/observations?cursor=${last()}&limit=5000`);
    // Events come faster than these replies: keep only what an earlier reply did not bring.
    observations.push(...fresh.items.filter((o) => o.seq > last()));
    redraw();
    if (Date.now() - sensorsAt > 1000) {  // the rates move every analysis: refresh now and then
      sensorsAt = Date.now();
      sensors = (await Api.get(`/v1/streams/${id}`)).sensors || [];
      drawSensors();
    }
  }, ctrl.signal).catch((e) => { if (e.name !== "AbortError") info.textContent = e.message; });
}

// --- model versions with their metrics -----------------------------------------------------
async function modelsPage() {
  const data = await Api.get("/v1/models");
  const models = await Promise.all(data.items.map((m) => Api.get(`/v1/models/${encodeURIComponent(m.name)}`)));
  show(h("h2", {}, "Models"), ...models.map((m) => h("section", {}, h("h3", {}, m.name),
    h("table", {}, h("tr", {}, ...["version", "kind", "aliases", "metrics", "created"].map((t) => h("th", {}, t))),
      ...m.versions.map((v) => h("tr", {}, h("td", {}, v.version), h("td", {}, v.kind), h("td", {}, v.aliases.join(", ")),
        h("td", { class: "metrics" }, Object.entries(v.metrics).filter(([, x]) => typeof x !== "object")
          .map(([k, x]) => `${k}=${typeof x === "number" ? +x.toFixed(4) : x}`).join("  ")),
        h("td", {}, when(v.created_at))))))));
}

const ROUTES = [
  [/^#\/forecast$/, newForecastPage], [/^#\/forecasts\/(.+)$/, forecastPage],
  [/^#\/backtests\/(.+)$/, backtestPage], [/^#\/streams$/, streamsPage],
  [/^#\/streams\/(.+)$/, streamPage], [/^#\/models$/, modelsPage], [/^/, jobsPage],
];

async function route() {
  leave();
  leave = () => {};
  const [re, page] = ROUTES.find(([re]) => re.test(location.hash));
  try {
    await page(...location.hash.match(re).slice(1));
  } catch (e) {
    show(h("p", { class: "error" }, `${e.status || ""} ${e.message}`));
  }
}
window.addEventListener("hashchange", route);
route();
