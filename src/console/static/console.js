// Tollgate console: progressive enhancement of server-rendered pages. Every form works without
// this script; with it, buttons show progress, secrets copy with one click, charts draw from
// the stats API and exports stream with a running count.
(function () {
  "use strict";
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  let texts = null;
  const text = (key) => {
    if (texts === null) {
      try { texts = JSON.parse(document.body.dataset.texts || "{}"); } catch (_) { texts = {}; }
    }
    return texts[key] || key;
  };

  // Busy state: a form marked data-busy disables its button and says what it is doing.
  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { ev.preventDefault(); return; }
    const button = ev.submitter || form.querySelector("button[type=submit], button:not([type])");
    if (form.dataset.busy && button) {
      setTimeout(() => {
        button.disabled = true;
        button.innerHTML = '<span class="spinner" aria-hidden="true"></span> ';
        button.append(document.createTextNode(form.dataset.busy));
        button.setAttribute("aria-busy", "true");
      }, 0);
    }
  });

  // Copy buttons: data-copy names the element whose text is copied.
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const value = source.innerText.trim();
    try {
      await navigator.clipboard.writeText(value);
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents(source);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      document.execCommand("copy");
    }
    const old = button.textContent;
    button.textContent = text("copied");
    setTimeout(() => { button.textContent = old; }, 1500);
  });

  // Exports: streamed from the API with a running count, then saved as a file.
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-export]");
    if (!button) return;
    ev.preventDefault();
    const status = document.getElementById(button.dataset.status);
    button.disabled = true;
    try {
      const resp = await fetch(button.dataset.export, { credentials: "same-origin" });
      if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
      const reader = resp.body.getReader();
      const chunks = [];
      let bytes = 0, lines = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        bytes += value.length;
        for (const b of value) if (b === 10) lines++;
        if (status) status.textContent = text("exporting") + " " + lines.toLocaleString() + " · " + (bytes / 1024).toFixed(0) + " KB";
      }
      const blob = new Blob(chunks, { type: resp.headers.get("content-type") || "text/plain" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = button.dataset.filename || "export";
      document.body.append(a);
      a.click();
      a.remove();
      if (status) status.textContent = text("exported") + " " + lines.toLocaleString();
    } catch (e) {
      if (status) status.textContent = text("export_failed") + ": " + e.message;
    } finally {
      button.disabled = false;
    }
  });

  // Charts ------------------------------------------------------------------------------
  const palette = ["#3d5afe", "#00a676", "#f59e0b", "#e11d48", "#8b5cf6", "#0ea5e9", "#64748b"];
  const fmt = (n) => (n == null ? "–" : Number(n).toLocaleString(undefined, { maximumFractionDigits: 2 }));
  // Credits are often fractions of a cent: six significant digits, not two decimals.
  const fmtCost = (n) => (n == null ? "–" : Number(n).toLocaleString(undefined, { maximumSignificantDigits: 6 }));

  // The y axis as wide as its longest label: small credit amounts ("0.000082") are wider
  // than a fixed size and were cut off on the left.
  function axisWidth(u, values, axisIdx, cycleNum) {
    const axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    const longest = (values || []).reduce((a, v) => (String(v).length > a.length ? String(v) : a), "");
    u.ctx.font = axis.font[0];
    return Math.ceil(axis.ticks.size + axis.gap + u.ctx.measureText(longest).width / devicePixelRatio + 4);
  }

  // Points uPlot hides on a dense chart, except values with no neighbour: a lone hour of
  // traffic in a week is a point with no line through it, and would not show at all.
  function lonePoints(u, seriesIdx, show) {
    if (show) return null;
    const ys = u.data[seriesIdx];
    const lone = [];
    for (let i = 0; i < ys.length; i++) {
      if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) lone.push(i);
    }
    return lone.length ? lone : null;
  }

  function draw(el, title, xs, series, opts) {
    el.innerHTML = "";
    if (!xs.length) {
      el.innerHTML = '<div class="chart-empty">' + text("no_data") + "</div>";
      return;
    }
    const show = (v) => (opts && opts.cost ? fmtCost(v) : fmt(v)) + ((opts && opts.suffix) || "");
    const width = Math.max(260, el.clientWidth || 600);
    const u = new uPlot({
      title: title, width: width, height: 220,
      scales: { x: { time: true } },
      axes: [{}, { size: axisWidth, values: (u, vals) => vals.map((v) => show(v)) }],
      series: [{}].concat(series.map((s, i) => ({
        label: s.label, stroke: palette[i % palette.length], width: 2, spanGaps: true,
        points: { filter: lonePoints },
        fill: opts && opts.fill ? palette[i % palette.length] + "22" : undefined,
        value: (u, v) => (v == null ? "–" : show(v)),
      }))),
    }, [xs].concat(series.map((s) => s.values)), el);
    new ResizeObserver(() => u.setSize({ width: Math.max(260, el.clientWidth), height: 220 })).observe(el);
  }

  // An answer of /stats as chart columns: every bucket of the asked range on the x axis (hours
  // and days step evenly; months come from the rows), and where each row goes.
  function pivot(answer, granularity) {
    const rows = answer.data || [];
    const step = { hour: 3600, day: 86400 }[granularity];
    const at = (text) => Date.parse(text) / 1000;
    let xs = [];
    if (!rows.length) {
      xs = [];
    } else if (step && answer.from && answer.to) {
      for (let x = at(answer.from); x < at(answer.to); x += step) xs.push(x);
    } else {
      xs = [...new Set(rows.map((r) => at(r.bucket)))].sort((a, b) => a - b);
    }
    const index = new Map(xs.map((x, i) => [x, i]));
    return { xs, slot: (r) => index.get(at(r.bucket)), col: (fill) => new Array(xs.length).fill(fill) };
  }

  // A group's name where the API knows one (users, keys, providers), else its id or model.
  const label = (r) => (r.name != null ? r.name : r.group == null ? "–" : r.group);

  async function stats(url) {
    const resp = await fetch(url, { credentials: "same-origin", headers: { "x-csrf-token": csrf() } });
    if (!resp.ok) {
      let message = resp.status + " " + resp.statusText;
      try { message = (await resp.json()).error.message || message; } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return resp.json();
  }

  async function dashboard(root) {
    const base = root.dataset.statsUrl;
    const q = root.dataset.query;
    const status = root.querySelector("[data-chart-status]");
    try {
      const [total, grouped] = await Promise.all([
        stats(base + "?" + q + "&group_by=none"),
        root.dataset.groupBy === "none" ? null : stats(base + "?" + q + "&group_by=" + root.dataset.groupBy),
      ]);
      if (status) status.textContent = "";
      const rows = total.data || [];
      const granularity = new URLSearchParams(q).get("granularity");
      const p = pivot(total, granularity);
      // Counts are 0 in a bucket without calls; rates and latencies have no value there.
      const series = (field, label, empty) => {
        const v = p.col(empty === undefined ? null : empty);
        rows.forEach((r) => { const i = p.slot(r); if (i != null) v[i] = field(r); });
        return { label, values: v };
      };
      const num = (k) => (r) => (r[k] == null ? null : Number(r[k]));
      const tiles = root.querySelectorAll("[data-total]");
      const t = total.totals || {};
      tiles.forEach((el) => {
        const k = el.dataset.total;
        let v = t[k];
        if (k === "error_rate") v = t.calls ? (100 * (t.failures || 0) / t.calls) : null;
        el.textContent = v == null ? "–" : (k === "cost" ? fmtCost(v) : fmt(v)) + (el.dataset.suffix || "");
      });
      const chart = (name) => root.querySelector('[data-chart="' + name + '"]');
      if (grouped && chart("calls")) {
        const g = pivot(total, granularity);
        const groups = new Map();
        (grouped.data || []).forEach((r) => {
          const key = label(r);
          if (!groups.has(key)) groups.set(key, { label: key, values: g.col(0), sum: 0 });
          const s = groups.get(key);
          const i = g.slot(r);
          if (i != null) { s.values[i] = (s.values[i] || 0) + (r.calls || 0); s.sum += r.calls || 0; }
        });
        const top = [...groups.values()].sort((a, b) => b.sum - a.sum).slice(0, 7);
        draw(chart("calls"), text("chart_calls"), g.xs, top, {});
      } else if (chart("calls")) {
        draw(chart("calls"), text("chart_calls"), p.xs, [series(num("calls"), text("calls"), 0)], {});
      }
      if (chart("tokens")) draw(chart("tokens"), text("chart_tokens"), p.xs,
        [series(num("input_tokens"), text("input"), 0), series(num("output_tokens"), text("output"), 0)], { fill: true });
      if (chart("cost")) draw(chart("cost"), text("chart_cost"), p.xs, [series(num("cost"), text("cost"), 0)], { fill: true, cost: true });
      if (chart("errors")) draw(chart("errors"), text("chart_errors"), p.xs,
        [series((r) => (r.calls ? (100 * (r.failures || 0)) / r.calls : null), text("error_rate"))], { suffix: "%" });
      if (chart("latency")) draw(chart("latency"), text("chart_latency"), p.xs,
        [series(num("duration_ms_p50"), "p50"), series(num("duration_ms_p95"), "p95")], { suffix: " ms" });
      if (chart("ttft")) draw(chart("ttft"), text("chart_ttft"), p.xs,
        [series(num("ttft_ms_p50"), "p50"), series(num("ttft_ms_p95"), "p95")], { suffix: " ms" });
      const table = root.querySelector("[data-group-table]");
      if (table && grouped) {
        const agg = new Map();
        (grouped.data || []).forEach((r) => {
          const key = label(r);
          const a = agg.get(key) || { calls: 0, failures: 0, input: 0, output: 0, cost: 0 };
          a.calls += r.calls || 0; a.failures += r.failures || 0;
          a.input += r.input_tokens || 0; a.output += r.output_tokens || 0; a.cost += Number(r.cost || 0);
          agg.set(key, a);
        });
        const body = [...agg.entries()].sort((a, b) => b[1].calls - a[1].calls).map(([k, a]) =>
          "<tr><td>" + escapeHtml(k) + '</td><td class="num">' + fmt(a.calls) + '</td><td class="num">' +
          fmt(a.calls ? (100 * a.failures) / a.calls : 0) + '%</td><td class="num">' + fmt(a.input) +
          '</td><td class="num">' + fmt(a.output) + '</td><td class="num">' + fmtCost(a.cost) + "</td></tr>").join("");
        table.innerHTML = body || '<tr><td colspan="6" class="empty">' + text("no_data") + "</td></tr>";
      }
      root.dataset.loaded = "true";
    } catch (e) {
      if (status) { status.textContent = text("stats_failed") + ": " + e.message; status.className = "notice bad"; }
      root.querySelectorAll("[data-chart]").forEach((el) => { el.closest(".panel").hidden = true; });
      root.dataset.loaded = "error";
    }
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  window.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-stats-url]").forEach(dashboard);
  });
})();
