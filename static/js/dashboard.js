// Dashboard and model pages.
// * Trend charts (Chart.js, linear time axis in ms): one fetch of dashboard/chart.json per
//   metric and range; a line per model (p50) with a shaded p50–p95 band where the points carry
//   p95 (rollup ranges). One HTML legend above the charts: a click hides or shows that model
//   in all four.
// * The range selector re-fetches the charts and the "Performance by model" partial, and keeps
//   the range in the URL (?range=) so a reload shows the same thing.
// * The dashboard's charts and comparison cover the models of the page shown (data-models):
//   at a thousand models, one page of them, never all.
// * Charts refresh every 60 s (not while the tab is hidden); the live parts refresh themselves
//   every 30 s through htmx, except while the keyboard focus is inside them (a swap would drop
//   it); the Refresh button does both at once.
// * The Models filters are a plain GET form; changing a menu submits it.
// Colors come from the theme's CSS variables; charts are redrawn when the theme changes.
(function () {
  var CHART_REFRESH_MS = 60000;
  var DAY = 86400000;
  // Axis ticks per range: spacing in ms and whether labels show the time or the date.
  var TICKS = {
    "5m": [60000, "time"],
    "1h": [600000, "time"],
    "24h": [3 * 3600000, "time"],
    "7d": [DAY, "date"],
    "30d": [5 * DAY, "date"],
    "90d": [14 * DAY, "date"],
  };
  var DECIMALS = { latency: 0, ttft: 0, tps: 1, availability: 1 };

  var section = document.querySelector("[data-trends]");
  var updated = document.querySelector("[data-updated]");
  var comparison = document.getElementById("dashboard-comparison");
  var live = document.getElementById("dashboard-live");
  var models = document.getElementById("dashboard-models");
  var filters = document.querySelector("[data-dash-filters]");

  var range = section ? section.dataset.range : null;
  var hidden = {}; // model id → true while hidden (shared by every chart)
  var colorIndex = {}; // model id → palette slot, stable across charts and refreshes
  var lastData = {}; // metric → the last chart.json answer (redrawn on theme change)
  var generation = 0; // answers of an older range or refresh are dropped
  var lastLoad = 0;

  var cssVar = window.ArgusCharts.cssVar;
  var withAlpha = window.ArgusCharts.withAlpha;

  function color(modelId) {
    if (!(modelId in colorIndex)) colorIndex[modelId] = Object.keys(colorIndex).length;
    var i = colorIndex[modelId];
    if (i < 6) return cssVar("--chart-" + (i + 1));
    // Beyond the theme's six: golden-angle hues, light enough for both themes.
    var dark = document.documentElement.getAttribute("data-theme") === "dark";
    return "hsl(" + Math.round((i * 137.508) % 360) + ", 65%, " + (dark ? "62%" : "42%") + ")";
  }

  function number(value, decimals) {
    return Number(value).toLocaleString(undefined, {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    });
  }

  function setUpdated(when) {
    if (!updated) return;
    var at = when || new Date();
    updated.textContent = "Updated " + at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    updated.setAttribute("data-at", at.toISOString());
  }

  // --- chart data → Chart.js datasets ------------------------------------------------------

  // Bucketed points sit at the middle of their bucket; a missing bucket breaks the line.
  function toPoints(points, data, band) {
    var rollup = data.source !== "raw checks";
    var stepMs = data.step_seconds * 1000;
    var availability = data.metric === "availability";
    var out = [];
    var previous = null;
    points.forEach(function (p) {
      var x = Date.parse(p[0]);
      if (rollup && !availability) x += stepMs / 2;
      var y = band ? p[2] : p[1];
      if (rollup && previous !== null && x - previous > 1.5 * stepMs) {
        out.push({ x: previous + stepMs, y: null });
      }
      out.push({ x: x, y: y, p95: p[2], n: p[3] });
      previous = x;
    });
    // An availability step holds for its whole bucket: close the last one.
    if (availability && out.length) {
      var last = out[out.length - 1];
      var end = Math.min(last.x + stepMs, Date.parse(data.until));
      if (end > last.x) out.push({ x: end, y: last.y, p95: null, n: last.n, tail: true });
    }
    return out;
  }

  function datasetsFor(data) {
    var datasets = [];
    var many = data.series.length > 1;
    data.series.forEach(function (series) {
      var c = color(series.model_id);
      var points = toPoints(series.points, data, false);
      var sparse = points.length <= 16;
      var index = datasets.length;
      datasets.push({
        label: series.name,
        modelId: series.model_id,
        data: points,
        borderColor: c,
        backgroundColor: c,
        borderWidth: 2,
        pointRadius: sparse ? 2.5 : 0,
        pointHoverRadius: 4,
        pointHitRadius: 6,
        stepped: data.metric === "availability",
        hidden: Boolean(hidden[series.model_id]),
        spanGaps: false,
      });
      var withBand = series.points.some(function (p) { return p[2] !== null; });
      if (withBand) {
        datasets.push({
          label: series.name + " p95",
          band: true,
          modelId: series.model_id,
          data: toPoints(series.points, data, true),
          borderColor: withAlpha(c, 0.5),
          borderWidth: many ? 0 : 1, // several overlapping bands: fill only, no outline
          borderDash: [3, 3],
          backgroundColor: withAlpha(c, many ? 0.1 : 0.18),
          pointRadius: 0,
          pointHitRadius: 0,
          fill: { target: index },
          hidden: Boolean(hidden[series.model_id]),
          spanGaps: false,
        });
      }
    });
    return datasets;
  }

  function ticksFor(min, max) {
    var spec = TICKS[range] || TICKS["24h"];
    var step = spec[0];
    var offset = new Date(min).getTimezoneOffset() * 60000; // align on local clock times
    var ticks = [];
    for (var t = Math.ceil((min - offset) / step) * step + offset; t <= max; t += step) {
      ticks.push({ value: t });
    }
    return ticks;
  }

  function tickLabel(value) {
    var spec = TICKS[range] || TICKS["24h"];
    var date = new Date(value);
    if (spec[1] === "date") return date.toLocaleDateString([], { month: "short", day: "numeric" });
    return date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  }

  function configFor(data) {
    var muted = cssVar("--muted");
    var grid = cssVar("--border");
    var decimals = DECIMALS[data.metric];
    var unit = data.unit === "%" ? " %" : " " + data.unit;
    var min = Date.parse(data.since);
    var max = Date.parse(data.until);
    var availability = data.metric === "availability";
    return {
      type: "line",
      data: { datasets: datasetsFor(data) },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: {
          legend: { display: false }, // one HTML legend serves the four charts
          tooltip: {
            filter: function (item) { return !item.dataset.band && !item.raw.tail && item.raw.y !== null; },
            itemSort: function (a, b) { return b.raw.y - a.raw.y; },
            callbacks: {
              title: function (items) {
                if (!items.length) return "";
                return new Date(items[0].raw.x).toLocaleString([], {
                  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
                });
              },
              label: function (item) {
                var raw = item.raw;
                var line = item.dataset.label + ": " + number(raw.y, decimals) + unit;
                if (raw.p95 !== null && raw.p95 !== undefined) line += " (p95 " + number(raw.p95, decimals) + ")";
                if (raw.n > 1) line += " · n " + raw.n;
                return line;
              },
            },
          },
        },
        scales: {
          x: {
            type: "linear",
            min: min,
            max: max,
            afterBuildTicks: function (axis) { axis.ticks = ticksFor(min, max); },
            ticks: { color: muted, maxRotation: 0, autoSkip: true, callback: tickLabel },
            grid: { color: withAlpha(grid, 0.6) || grid },
            border: { color: grid },
          },
          y: {
            beginAtZero: true,
            min: availability ? 0 : undefined,
            max: availability ? 100 : undefined,
            ticks: {
              color: muted,
              maxTicksLimit: 5,
              callback: function (value) { return number(value, 0) + (availability ? "%" : ""); },
            },
            grid: { color: withAlpha(grid, 0.6) || grid },
            border: { display: false },
          },
        },
      },
    };
  }

  function draw(figure, data) {
    var canvas = figure.querySelector("[data-trend-canvas]");
    var empty = figure.querySelector("[data-trend-empty]");
    window.ArgusCharts.draw(canvas, configFor(data));
    var points = data.series.reduce(function (n, s) { return n + s.points.length; }, 0);
    empty.hidden = points > 0;
    var what = data.metric === "availability" ? "check" : "sample";
    meta(figure, "source: " + data.source + ", " + number(data.samples, 0) + " " + what + (data.samples === 1 ? "" : "s"), false);
  }

  function meta(figure, message, isError) {
    var el = figure.querySelector("[data-trend-meta]");
    el.textContent = message;
    el.classList.toggle("error", Boolean(isError));
  }

  // The legend: one button per model, shared by the four charts (a model page has none).
  function renderLegend(series) {
    var legend = section.querySelector("[data-trend-legend]");
    if (!legend) return;
    legend.hidden = series.length < 2;
    legend.textContent = "";
    series.forEach(function (s) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "legend-item";
      button.dataset.legendModel = s.model_id;
      button.title = (hidden[s.model_id] ? "Show " : "Hide ") + s.name + " in every chart";
      button.setAttribute("aria-pressed", String(!hidden[s.model_id]));
      var swatch = document.createElement("span");
      swatch.className = "legend-swatch";
      swatch.style.backgroundColor = color(s.model_id); // CSSOM, not a style attribute (CSP)
      var label = document.createElement("span");
      label.className = "legend-label";
      label.textContent = s.name;
      button.appendChild(swatch);
      button.appendChild(label);
      legend.appendChild(button);
    });
  }

  function toggleModel(modelId) {
    hidden[modelId] = !hidden[modelId];
    var button = section.querySelector('[data-legend-model="' + modelId + '"]');
    if (button) {
      button.setAttribute("aria-pressed", String(!hidden[modelId]));
      button.title = (hidden[modelId] ? "Show " : "Hide ") + button.textContent + " in every chart";
    }
    section.querySelectorAll("[data-trend-canvas]").forEach(function (canvas) {
      var chart = window.Chart.getChart(canvas);
      if (!chart) return;
      chart.data.datasets.forEach(function (ds) {
        if (ds.modelId === modelId) ds.hidden = hidden[modelId];
      });
      chart.update("none");
    });
  }

  // --- fetching ----------------------------------------------------------------------------

  function pageModels() {
    return (section.dataset.models || "").split(" ").filter(Boolean);
  }

  function chartUrl(metric) {
    var params = new URLSearchParams({ metric: metric, range: range });
    if (section.dataset.model) params.append("model", section.dataset.model);
    pageModels().forEach(function (id) { params.append("model", id); });
    return section.dataset.chartUrl + "?" + params.toString();
  }

  function loadCharts() {
    if (!section || typeof window.Chart !== "function") return Promise.resolve();
    var mine = ++generation;
    lastLoad = Date.now();
    section.setAttribute("aria-busy", "true");
    var jobs = Array.prototype.map.call(section.querySelectorAll("[data-trend]"), function (figure) {
      var metric = figure.dataset.trend;
      return fetch(chartUrl(metric), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (type.indexOf("application/json") === -1) {
            if (response.redirected) window.location.reload(); // the session ended
            throw new Error("HTTP " + response.status);
          }
          return response.json().then(function (body) {
            if (!response.ok) throw new Error(body.detail || "HTTP " + response.status);
            return body;
          });
        })
        .then(function (data) {
          if (mine !== generation) return;
          lastData[metric] = data;
          draw(figure, data);
          if (metric === "latency") renderLegend(data.series);
        })
        .catch(function (err) {
          if (mine !== generation) return;
          meta(figure, "Could not load this chart (" + err.message + "); retrying in a minute.", true);
        });
    });
    return Promise.all(jobs).then(function () {
      if (mine === generation) {
        section.removeAttribute("aria-busy");
        setUpdated();
      }
    });
  }

  function redrawAll() {
    if (!section || typeof window.Chart !== "function") return;
    section.querySelectorAll("[data-trend]").forEach(function (figure) {
      var data = lastData[figure.dataset.trend];
      if (data) draw(figure, data);
    });
    if (lastData.latency) renderLegend(lastData.latency.series);
  }

  function loadComparison() {
    if (!comparison || !window.htmx) return Promise.resolve();
    var url = new URL(comparison.dataset.comparisonUrl, window.location.href);
    url.searchParams.set("range", range);
    return window.htmx.ajax("GET", url.pathname + url.search, { target: comparison, swap: "innerHTML" });
  }

  function loadLive() {
    if (!live || !window.htmx) return Promise.resolve();
    return window.htmx.ajax("GET", live.getAttribute("hx-get"), { target: live, swap: "innerHTML" });
  }

  // --- range selector ----------------------------------------------------------------------

  function setRange(next) {
    if (!section || next === range) return;
    range = next;
    section.dataset.range = next;
    section.querySelectorAll("[data-range-option]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.rangeOption === next));
    });
    var url = new URL(window.location.href);
    url.searchParams.set("range", next);
    window.history.replaceState(null, "", url.toString());
    section.querySelectorAll("[data-trend-meta]").forEach(function (el) {
      el.textContent = "Loading…";
      el.classList.remove("error");
    });
    loadCharts();
    loadComparison();
  }

  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-range-option]");
    if (option) setRange(option.dataset.rangeOption);
    var legendItem = event.target.closest("[data-legend-model]");
    if (legendItem) toggleModel(legendItem.dataset.legendModel);
    var refresh = event.target.closest("[data-refresh]");
    if (refresh && !refresh.disabled) {
      refresh.disabled = true;
      refresh.classList.add("spinning");
      Promise.all([loadLive(), loadCharts(), loadComparison()])
        .catch(function () { /* each part reports its own failure */ })
        .then(function () {
          refresh.disabled = false;
          refresh.classList.remove("spinning");
        });
    }
  });

  // The 30-second refresh counts as an update too.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (live && event.detail.target === live) setUpdated();
  });

  // A poll would replace the element holding the keyboard focus: skip it then (the next one,
  // 30 s later, runs once the focus has moved on). The Refresh button still refreshes.
  function focusInside() {
    var active = document.activeElement;
    return Boolean(active && ((live && live.contains(active)) || (models && models.contains(active))));
  }
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    if (live && event.detail.elt === live && focusInside()) event.preventDefault();
  });

  if (filters) {
    filters.addEventListener("change", function (event) {
      if (event.target.tagName === "SELECT") filters.requestSubmit();
    });
  }

  // --- start -------------------------------------------------------------------------------

  if (section && window.ArgusCharts.available()) {
    loadCharts();
    window.setInterval(function () {
      if (!document.hidden) loadCharts();
    }, CHART_REFRESH_MS);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && Date.now() - lastLoad > CHART_REFRESH_MS) loadCharts();
    });
    window.ArgusCharts.onThemeChange(redrawAll);
  }
  if (updated) setUpdated(new Date(updated.getAttribute("data-at")));
})();
