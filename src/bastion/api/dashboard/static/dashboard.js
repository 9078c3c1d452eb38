// Bastion dashboard: vanilla JS, hand-drawn SVG charts, no external requests.
// Every value from the server is written with textContent / attributes, never parsed as HTML:
// feature tags, user ids and model names come from clients.
"use strict";

(() => {
  const KEY_STORAGE = "bastion.dashboard.adminKey";
  const REFRESH_MS = 5000;
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = ["#2f6fed", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599", "#e67700", "#5c7cfa", "#868e96"];
  const RANGES = ["1h", "6h", "24h", "7d", "30d"];
  const state = { range: RANGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : "1h", spendBy: "model", spendDays: 7, busy: false, timer: null, authed: false };

  const $ = (selector) => document.querySelector(selector);
  const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

  class AuthError extends Error {}

  // ------------------------------------------------------------------ formatting
  const fmt = {
    int: (v) => (v == null ? "–" : integer.format(v)),
    compact: (v) => (v == null ? "–" : v >= 10000 ? compact.format(v) : integer.format(v)),
    pct: (v) => (v == null ? "–" : (v * 100).toFixed(v > 0 && v < 0.001 ? 3 : v < 0.1 ? 2 : 1) + "%"),
    ms: (v) => (v == null ? "–" : v >= 10000 ? (v / 1000).toFixed(1) + " s" : v >= 100 ? integer.format(v) + " ms" : v.toFixed(1) + " ms"),
    usd(v) {
      if (v == null) return "–";
      if (v === 0) return "$0";
      if (v < 0.00001) return "<$0.00001";
      return "$" + (v < 0.01 ? v.toFixed(5) : v < 1 ? v.toFixed(4) : v < 1000 ? v.toFixed(2) : integer.format(v));
    },
    rate: (v) => (v == null ? "–" : v < 10 ? v.toFixed(2) : integer.format(v)),
    score: (v) => (v == null ? "–" : (v >= 0 ? "+" : "") + v.toFixed(2)),
    time(seconds, long) {
      const d = new Date(seconds * 1000);
      const hm = d.toTimeString().slice(0, 5);
      return long ? `${d.getMonth() + 1}/${d.getDate()} ${hm}` : hm;
    },
    // three durations in one unit, e.g. "120 / 480 / 950 ms" or "0.47 / 3.5 / 9.7 s"
    msTriple(values) {
      if (values.every((v) => v == null)) return "–";
      const seconds = Math.max(...values.filter((v) => v != null)) >= 1000;
      const inSeconds = (v) => (v < 10000 ? (v / 1000).toFixed(2) : (v / 1000).toFixed(1));
      const one = (v) => (v == null ? "–" : seconds ? inSeconds(v) : v >= 10 ? integer.format(v) : v.toFixed(1));
      return values.map(one).join(" / ") + (seconds ? " s" : " ms");
    },
    day: (seconds) => new Date(seconds * 1000).toISOString().slice(5, 10),
    clock: (seconds) => new Date(seconds * 1000).toTimeString().slice(0, 8),
  };

  // ------------------------------------------------------------------ DOM helpers
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value != null) node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child == null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    if (text != null) node.textContent = text;
    return node;
  }

  function badge(text, kind) {
    return el("span", { class: `badge ${kind || ""}` }, text);
  }

  // A table from column specs: {label, value(row) -> string | Node, num}
  function table(target, columns, rows, emptyText) {
    const head = el("tr", null, ...columns.map((c) => el("th", { class: c.num ? "num" : null }, c.label)));
    const body = rows.length
      ? rows.map((row) => el("tr", null, ...columns.map((c) => el("td", { class: c.num ? "num" : null }, c.value(row)))))
      : [el("tr", null, el("td", { class: "empty", colspan: columns.length }, emptyText || "nothing yet"))];
    target.replaceChildren(el("thead", null, head), el("tbody", null, ...body));
  }

  function tile(id, value, sub) {
    const node = document.getElementById(id);
    node.querySelector(".value").textContent = value;
    node.querySelector(".sub").textContent = sub || "";
  }

  // ------------------------------------------------------------------ charts
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * magnitude) return step * magnitude;
    return 10 * magnitude;
  }

  // Lines (or stacked bars) over shared x positions; a legend shows the hovered point's values.
  function chart(target, { labels, series, format, bars = false, stacked = false }) {
    const width = Math.max(target.clientWidth, 300);
    const height = Math.max(target.clientHeight - 22, 100); // less the legend's line
    const pad = { left: 46, right: 8, top: 8, bottom: 18 };
    const plotWidth = width - pad.left - pad.right;
    const plotHeight = height - pad.top - pad.bottom;
    const count = labels.length;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", preserveAspectRatio: "none" });
    const legend = el("div", { class: "legend" });
    let top = 0;
    if (stacked) {
      for (let i = 0; i < count; i++) top = Math.max(top, series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
    } else {
      for (const s of series) for (const v of s.values) if (v != null && v > top) top = v;
    }
    const max = niceMax(top);
    const x = (i) => pad.left + (bars ? (i + 0.5) * (plotWidth / Math.max(count, 1)) : count > 1 ? (i * plotWidth) / (count - 1) : plotWidth / 2);
    const y = (v) => pad.top + plotHeight - (v / max) * plotHeight;
    for (let g = 0; g <= 4; g++) {
      const value = (max * g) / 4;
      root.append(svg("line", { class: g ? "grid" : "axis", x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value) }));
      root.append(svg("text", { x: pad.left - 4, y: y(value) + 3, "text-anchor": "end" }, format(value)));
    }
    const ticks = Math.min(count, Math.max(2, Math.floor(plotWidth / 80)));
    for (let t = 0; t < ticks; t++) {
      const i = Math.round((t * (count - 1)) / Math.max(ticks - 1, 1));
      root.append(svg("text", { x: x(i), y: height - 4, "text-anchor": "middle" }, labels[i]));
    }
    if (!series.some((s) => s.values.some((v) => v))) {
      root.append(svg("text", { class: "empty", x: pad.left + plotWidth / 2, y: pad.top + plotHeight / 2, "text-anchor": "middle" }, "nothing in this range"));
    }
    if (bars) {
      const barWidth = Math.max(1, (plotWidth / Math.max(count, 1)) * 0.7);
      const base = new Array(count).fill(0);
      series.forEach((s, k) => {
        s.values.forEach((v, i) => {
          if (!v) return;
          const bottom = stacked ? base[i] : 0;
          root.append(svg("rect", { x: x(i) - barWidth / 2, y: y(bottom + v), width: barWidth, height: y(bottom) - y(bottom + v), fill: s.color || COLORS[k % COLORS.length] }));
          if (stacked) base[i] += v;
        });
      });
    } else {
      series.forEach((s, k) => {
        let path = "";
        let open = false;
        s.values.forEach((v, i) => {
          if (v == null) { open = false; return; }
          path += `${open ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
          open = true;
        });
        const color = s.color || COLORS[k % COLORS.length];
        if (path) root.append(svg("path", { d: path, fill: "none", stroke: color, "stroke-width": 1.8, "stroke-linejoin": "round" }));
        s.values.forEach((v, i) => { // a point with no neighbour draws no line: mark it
          if (v != null && s.values[i - 1] == null && s.values[i + 1] == null) root.append(svg("circle", { cx: x(i), cy: y(v), r: 2.5, fill: color }));
        });
      });
    }
    const cursor = svg("line", { class: "cursor", y1: pad.top, y2: pad.top + plotHeight, visibility: "hidden" });
    root.append(cursor);
    const showLegend = (i) => {
      const items = series.map((s, k) => {
        const swatch = el("i");
        swatch.style.background = s.color || COLORS[k % COLORS.length]; // CSSOM: allowed by the page's CSP
        return el("span", null, swatch, `${s.name} ${format(s.values[i])}`);
      });
      legend.replaceChildren(el("span", null, labels[i] || ""), ...items);
    };
    const latest = (() => {
      for (let i = count - 1; i >= 0; i--) if (series.some((s) => s.values[i] != null && s.values[i] !== 0)) return i;
      return count - 1;
    })();
    root.addEventListener("mousemove", (event) => {
      const box = root.getBoundingClientRect();
      const px = ((event.clientX - box.left) / box.width) * width;
      const i = Math.max(0, Math.min(count - 1, bars ? Math.floor(((px - pad.left) / plotWidth) * count) : Math.round(((px - pad.left) / plotWidth) * (count - 1))));
      cursor.setAttribute("x1", x(i));
      cursor.setAttribute("x2", x(i));
      cursor.setAttribute("visibility", "visible");
      showLegend(i);
    });
    root.addEventListener("mouseleave", () => { cursor.setAttribute("visibility", "hidden"); showLegend(latest); });
    if (count) showLegend(latest);
    target.replaceChildren(legend, root);
  }

  // ------------------------------------------------------------------ data
  function adminKey() {
    return sessionStorage.getItem(KEY_STORAGE);
  }

  async function api(path) {
    const headers = { accept: "application/json" };
    const key = adminKey();
    if (key) headers.authorization = `Bearer ${key}`;
    const response = await fetch(`/dashboard/api/${path}`, { headers, cache: "no-store", credentials: "omit" });
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    const message = (body && body.error && body.error.message) || `HTTP ${response.status}`;
    if (response.status === 401 || response.status === 403) throw new AuthError(message);
    if (!response.ok) throw new Error(message);
    return body;
  }

  function renderOverview(data) {
    const t = data.totals;
    const long = data.end - data.start > 86400;
    tile("tile-requests", fmt.int(t.requests), `${fmt.rate(t.throughput_rps)} req/s · ${fmt.int(t.retried)} retried`);
    tile("tile-errors", fmt.pct(t.error_rate), `${fmt.int(t.errors)} errors`);
    tile("tile-fallbacks", fmt.pct(t.fallback_rate), `${fmt.int(t.fallbacks)} answered by a fallback`);
    tile("tile-latency", fmt.msTriple([t.latency_ms.p50, t.latency_ms.p95, t.latency_ms.p99]), `avg ${fmt.ms(t.latency_ms.avg)}`);
    tile("tile-ttft", fmt.msTriple([t.ttft_ms.p50, t.ttft_ms.p95, t.ttft_ms.p99]), `${fmt.int(t.ttft_count)} streamed`);
    tile("tile-tokens", `${fmt.compact(t.prompt_tokens)} / ${fmt.compact(t.completion_tokens)}`, `${fmt.compact(t.cached_tokens)} cached input`);
    tile("tile-cost", fmt.usd(t.cost_usd), `in the last ${data.range}`);
    tile("tile-cache", fmt.pct(t.cache_hit_rate), `${fmt.int(t.cache_hits)} hits · saved ${fmt.usd(t.cost_saved_usd)}`);

    const s = data.series;
    const labels = s.t.map((v) => fmt.time(v, long));
    const pct = (values) => values.map((v, i) => (s.requests[i] ? (100 * v) / s.requests[i] : null));
    chart($("#chart-latency"), { labels, format: fmt.ms, series: [
      { name: "P50", values: s.latency_p50 }, { name: "P95", values: s.latency_p95 }, { name: "P99", values: s.latency_p99 }] });
    chart($("#chart-ttft"), { labels, format: fmt.ms, series: [
      { name: "P50", values: s.ttft_p50 }, { name: "P95", values: s.ttft_p95 }, { name: "P99", values: s.ttft_p99 }] });
    chart($("#chart-throughput"), { labels, format: fmt.rate, series: [
      { name: "requests/s", values: s.throughput_rps },
      { name: "errors/s", values: s.errors.map((v, i) => (s.requests[i] ? (v * s.throughput_rps[i]) / s.requests[i] : 0)), color: "#c01048" }] });
    chart($("#chart-rates"), { labels, format: (v) => (v == null ? "–" : v.toFixed(v < 10 ? 1 : 0) + "%"), series: [
      { name: "errors", values: pct(s.errors), color: "#c01048" },
      { name: "fallbacks", values: pct(s.fallbacks), color: "#e8590c" },
      { name: "cache hits", values: pct(s.cache_hits), color: "#2b8a3e" }] });
    chart($("#chart-tokens"), { labels, format: fmt.compact, bars: true, stacked: true, series: [
      { name: "input", values: s.prompt_tokens }, { name: "output", values: s.completion_tokens, color: "#e8590c" }] });
    chart($("#chart-cost"), { labels, format: fmt.usd, bars: true, series: [{ name: "cost", values: s.cost_usd, color: "#7048e8" }] });

    table($("#deployments"), [
      { label: "Model group", value: (r) => r.model || "–" },
      { label: "Provider", value: (r) => r.provider || "–" },
      { label: "Deployment", value: (r) => r.deployment || "–" },
      { label: "Breaker", value: (r) => {
        const breaker = r.live && r.live.breaker;
        if (!breaker) return badge("not configured here");
        const text = breaker.state + (breaker.reason && breaker.state !== "closed" ? ` (${breaker.reason})` : "");
        return badge(text, breaker.state);
      } },
      { label: "In flight", num: true, value: (r) => (r.live ? fmt.int(r.live.in_flight) : "–") },
      { label: "Requests", num: true, value: (r) => fmt.int(r.requests) },
      { label: "Errors", num: true, value: (r) => fmt.pct(r.error_rate) },
      { label: "P50", num: true, value: (r) => fmt.ms(r.latency_ms.p50) },
      { label: "P95", num: true, value: (r) => fmt.ms(r.latency_ms.p95) },
      { label: "TTFT P95", num: true, value: (r) => fmt.ms(r.ttft_ms.p95) },
      { label: "Cost", num: true, value: (r) => fmt.usd(r.cost_usd) },
    ], data.deployments, "no deployments");
    const ledger = data.ledger;
    $("#footer").textContent = `replica ${data.replica} · ledger ${ledger.enabled ? `on, ${ledger.queued} queued, ${ledger.dropped} dropped` : "off: no request is recorded"}`;
  }

  function renderSpend(data) {
    $("#spend-total").textContent = `${fmt.usd(data.totals.cost_usd)} over ${data.days.length} days · ${fmt.int(data.totals.requests)} requests`;
    chart($("#chart-spend"), {
      labels: data.days.map(fmt.day), format: fmt.usd, bars: true, stacked: true,
      series: data.series.map((s, k) => ({ name: s.other ? "other" : s.name || "(none)", values: s.cost_usd, color: COLORS[k % COLORS.length] })),
    });
    table($("#spenders"), [
      { label: "Key", value: (r) => r.value || "–" },
      { label: "User", value: (r) => r.user_id || "–" },
      { label: "Team", value: (r) => r.team_id || "–" },
      { label: "Requests", num: true, value: (r) => fmt.int(r.requests) },
      { label: "Cost", num: true, value: (r) => fmt.usd(r.cost_usd) },
    ], data.spenders);
    const byName = (name) => [
      { label: name, value: (r) => r.value || "(none)" },
      { label: "Requests", num: true, value: (r) => fmt.int(r.requests) },
      { label: "Tokens", num: true, value: (r) => fmt.compact(r.prompt_tokens + r.completion_tokens) },
      { label: "Cost", num: true, value: (r) => fmt.usd(r.cost_usd) },
      { label: "Saved", num: true, value: (r) => fmt.usd(r.cost_saved_usd) },
    ];
    table($("#features"), byName("Feature"), data.features);
    table($("#models"), byName("Model"), data.models);
  }

  function renderFeedback(data) {
    table($("#feedback"), [
      { label: "Model group", value: (r) => r.model || "(none)" },
      { label: "Scores", num: true, value: (r) => fmt.int(r.count) },
      { label: "Mean score", num: true, value: (r) => fmt.score(r.mean_score) },
      { label: "Positive", num: true, value: (r) => fmt.pct(r.positive_share) },
      { label: "Up / down", num: true, value: (r) => `${fmt.int(r.positives)} / ${fmt.int(r.negatives)}` },
    ], data.data, "no feedback in this range");
  }

  function trail(r) {
    const parts = [];
    if (r.route_rule) parts.push(el("span", { title: "routing rule" }, `rule ${r.route_rule}`));
    if (r.variant) parts.push(el("span", { title: "A/B variant" }, `variant ${r.variant}`));
    if (r.cache_hit) parts.push(el("span", { class: "cache" }, r.cache_hit + (r.cache_similarity ? ` ${r.cache_similarity.toFixed(2)}` : "")));
    if (r.attempts > 1) parts.push(el("span", { class: "retry" }, `${r.attempts} attempts`));
    for (const group of r.fallbacks) parts.push(el("span", { class: "fallback" }, `fallback → ${group}`));
    for (const decision of r.guards || []) {
      if (decision.action !== "pass") parts.push(el("span", { class: "guard" }, `${decision.guard} ${decision.action}`));
    }
    if (r.error_code) parts.push(el("span", { class: "guard" }, r.error_code));
    if (r.stream) parts.push(el("span", null, "stream"));
    if (r.usage_estimated) parts.push(el("span", null, "usage estimated"));
    return el("div", { class: "trail" }, ...parts);
  }

  function renderRequests(data) {
    table($("#requests"), [
      { label: "Time", value: (r) => fmt.clock(r.ts) },
      { label: "Request", value: (r) => r.request_id },
      { label: "Model → deployment", value: (r) => `${r.model || "–"} → ${r.provider || "–"}/${r.deployment || "–"}` },
      { label: "Status", value: (r) => badge(String(r.status), r.status < 400 ? "ok" : r.status < 500 ? "warn" : "bad") },
      { label: "Decision trail", value: trail },
      { label: "Latency", num: true, value: (r) => fmt.ms(r.latency_ms) },
      { label: "TTFT", num: true, value: (r) => fmt.ms(r.ttft_ms) },
      { label: "Tokens", num: true, value: (r) => `${fmt.int(r.prompt_tokens)} / ${fmt.int(r.completion_tokens)}` },
      { label: "Cost", num: true, value: (r) => fmt.usd(r.cost_usd) },
      { label: "Feature", value: (r) => r.feature || "" },
      { label: "User / key", value: (r) => r.user_id || r.key_id || "" },
    ], data.data, "no requests recorded yet");
  }

  // ------------------------------------------------------------------ refresh and login
  function setStatus(text, error) {
    const node = $("#status");
    node.textContent = text;
    node.classList.toggle("error", Boolean(error));
  }

  function showLogin(message) {
    state.authed = false;
    $("#board").hidden = true;
    $("#logout").hidden = true;
    $("#login").hidden = false;
    $("#login-error").textContent = message || "";
    setStatus("locked");
    $("#admin-key").focus();
  }

  async function refresh() {
    if (state.busy) return;
    state.busy = true;
    try {
      // locked: one request finds out whether a key is needed, before the others are sent
      const first = state.authed ? null : await api(`overview?range=${state.range}`);
      const [overview, spend, feedback, requests] = await Promise.all([
        first || api(`overview?range=${state.range}`),
        api(`spend?days=${state.spendDays}&by=${state.spendBy}`),
        api(`feedback?range=${state.range}`),
        api("requests?limit=50"),
      ]);
      if (!state.authed) {
        state.authed = true;
        $("#login").hidden = true;
        $("#board").hidden = false;
        $("#logout").hidden = !adminKey();
      }
      renderOverview(overview);
      renderSpend(spend);
      renderFeedback(feedback);
      renderRequests(requests);
      setStatus(`updated ${fmt.clock(Date.now() / 1000)}`);
      const loads = Number(document.body.dataset.loaded || 0) + 1;
      document.body.dataset.loaded = String(loads);
      if (loads === 1) performance.mark("dashboard-data"); // first numbers on screen (bench/dashboard)
    } catch (error) {
      if (error instanceof AuthError) {
        const hadKey = Boolean(adminKey());
        sessionStorage.removeItem(KEY_STORAGE);
        showLogin(hadKey ? `Refused: ${error.message}` : error.message.includes("admin API is off") ? error.message : "");
      } else {
        setStatus(`refresh failed: ${error.message}`, true);
      }
    } finally {
      state.busy = false;
    }
  }

  function schedule() {
    clearInterval(state.timer);
    if ($("#auto").checked) {
      state.timer = setInterval(() => { if (!document.hidden && state.authed) refresh(); }, REFRESH_MS);
    }
  }

  function start() {
    $("#login-form").addEventListener("submit", (event) => {
      event.preventDefault(); // the key must never be submitted as a form (no URL, no server log)
      const input = $("#admin-key");
      sessionStorage.setItem(KEY_STORAGE, input.value.trim());
      input.value = "";
      $("#login-error").textContent = "";
      refresh();
    });
    $("#logout").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      showLogin("");
    });
    const buttons = document.querySelectorAll("#ranges button");
    const pressRange = () => { for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.range === state.range)); };
    for (const button of buttons) {
      button.addEventListener("click", () => {
        state.range = button.dataset.range;
        history.replaceState(null, "", `#${state.range}`); // the view, never the key, goes in the URL
        pressRange();
        refresh();
      });
    }
    pressRange();
    $("#spend-by").addEventListener("change", (event) => { state.spendBy = event.target.value; refresh(); });
    $("#spend-days").addEventListener("change", (event) => { state.spendDays = Number(event.target.value); refresh(); });
    $("#auto").addEventListener("change", schedule);
    let resizeTimer = null;
    window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => state.authed && refresh(), 200); });
    schedule();
    refresh();
  }

  start();
})();
