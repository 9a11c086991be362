// Benchmarks pages.
// * New benchmark form: the search box filters the model checkboxes, "N selected", "Select all"
//   per provider account.
// * Run page while the run is live: follows it over the WebSocket (benchmarks.live); when the
//   socket cannot be opened or drops, polls the page's progress endpoint every second (and
//   reconnects with ?after=<seq> if the socket had worked). When the run ends the page reloads,
//   so statistics and charts render on the server.
// * Run page when finished: strip charts (Chart.js) of TTFT and decode speed per model, with
//   colors read from the theme's CSS variables and redrawn when the theme changes.
(function () {
  // --- model picker -----------------------------------------------------------------------------

  function pickerCount(form) {
    var out = form.querySelector("[data-selected-count]");
    if (out) out.textContent = form.querySelectorAll("input[name=model_ids]:checked").length + " selected";
    form.querySelectorAll("[data-picker-group]").forEach(function (group) {
      var button = group.querySelector("[data-select-group]");
      var boxes = visibleBoxes(group);
      var all = boxes.length > 0 && boxes.every(function (box) { return box.checked; });
      // The first text node only: a hidden span after it names the account for screen readers.
      if (button) button.firstChild.nodeValue = all ? "Clear" : "Select all";
    });
  }

  function visibleBoxes(group) {
    return Array.prototype.filter.call(group.querySelectorAll("[data-picker-item]"), function (item) {
      return !item.hidden;
    }).map(function (item) { return item.querySelector("input[type=checkbox]"); });
  }

  // The picker's search text per model (its name, id and account), read from the page once:
  // with 1,000 models a keystroke then only compares strings and sets ``hidden``.
  function pickerIndex(form) {
    if (!form._pickerIndex) {
      form._pickerIndex = Array.prototype.map.call(form.querySelectorAll("[data-picker-group]"), function (group) {
        var head = group.querySelector(".picker-account");
        var account = head ? head.textContent : "";
        return {
          group: group,
          items: Array.prototype.map.call(group.querySelectorAll("[data-picker-item]"), function (item) {
            return { item: item, text: (item.textContent + " " + account).toLowerCase() };
          }),
        };
      });
    }
    return form._pickerIndex;
  }

  function filterModels(search) {
    var form = search.closest("form");
    var term = search.value.trim().toLowerCase();
    var shown = 0;
    pickerIndex(form).forEach(function (entry) {
      var visible = 0;
      entry.items.forEach(function (one) {
        var show = !term || one.text.indexOf(term) !== -1;
        if (one.item.hidden === show) one.item.hidden = !show;
        if (show) visible += 1;
      });
      entry.group.hidden = visible === 0;
      shown += visible;
    });
    var empty = form.querySelector("[data-picker-empty]");
    if (empty) empty.hidden = shown > 0;
    pickerCount(form);
  }

  document.addEventListener("input", function (event) {
    var search = event.target.closest("[data-model-search]");
    if (search) filterModels(search);
  });

  document.addEventListener("change", function (event) {
    var form = event.target.closest("[data-bench-form]");
    if (form && event.target.name === "model_ids") pickerCount(form);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-select-group]");
    if (!button) return;
    var boxes = visibleBoxes(button.closest("[data-picker-group]"));
    var all = boxes.every(function (box) { return box.checked; });
    boxes.forEach(function (box) { box.checked = !all; });
    pickerCount(button.closest("form"));
  });

  // Enter in the search box must not submit the form.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.closest("[data-model-search]")) event.preventDefault();
  });

  document.querySelectorAll("[data-bench-form]").forEach(pickerCount);

  // --- live progress ----------------------------------------------------------------------------

  var POLL_MS = 1000;
  var MAX_RECONNECTS = 5;

  function fmt(value) {
    return value ? Number(value).toFixed(1) : "—";
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function initLive(section) {
    var FEED_ROWS = 200;
    var feed = section.querySelector("[data-feed]");
    var bar = section.querySelector("[data-progress-bar]");
    var text = section.querySelector("[data-progress-text]");
    var noteEl = section.querySelector("[data-live-note]");
    var modeEl = section.querySelector("[data-live-mode]");
    var emptyNote = section.querySelector("[data-feed-empty]");
    var pill = document.querySelector("[data-run-status]");
    var seen = {};
    // Resume after the highest seq with every lower one seen: results may commit out of order.
    var contiguous = 0;
    var finished = false;
    var socket = null;
    var reconnects = 0;
    var pollTimer = null;
    var polling = false;
    var pollChain = 0; // a restarted poller must not run alongside one whose fetch is in flight

    feed.querySelectorAll("tr[data-seq]").forEach(function (row) { markSeen(Number(row.dataset.seq)); });

    function markSeen(seq) {
      seen[seq] = true;
      while (seen[contiguous + 1]) contiguous += 1;
    }

    function note(message) { if (noteEl) noteEl.textContent = message; }
    function mode(message) { if (modeEl) modeEl.textContent = message; }

    function setStatus(status) {
      if (!pill || !status || pill.textContent === status) return;
      pill.className = pill.className.replace(/\bstatus-\S+/, "status-" + status);
      pill.textContent = status;
    }

    // total is 0 when it cannot be known (a concurrency sweep timed in seconds).
    function setProgress(completed, total, status, currentModel) {
      if (total) {
        bar.max = total;
        bar.value = completed;
      } else {
        bar.removeAttribute("value");
      }
      bar.textContent = total ? Math.round((100 * completed) / total) + "%" : "";
      text.textContent = total ? completed + " / " + total : String(completed);
      setStatus(status);
      if (status === "running") note(currentModel ? "Running… last result: " + currentModel : "Running…");
    }

    function addResult(data) {
      if (seen[data.seq]) return;
      markSeen(data.seq);
      var failed = Boolean(data.error_type);
      var row = document.createElement("tr");
      row.className = "sample-row" + (failed ? " failed" : "");
      row.dataset.seq = data.seq;
      cell(row, String(data.seq), "num");
      cell(row, data.model_name);
      cell(row, failed ? "—" : fmt(data.ttft_ms), "num");
      cell(row, failed ? "—" : fmt(data.total_latency_ms), "num");
      cell(row, failed ? "—" : fmt(data.tps_excluding_ttft), "num");
      cell(row, failed ? "—" : String(data.output_tokens), "num");
      var errorCell = cell(row, "");
      if (failed) {
        var type = document.createElement("span");
        type.className = "error-type";
        type.textContent = data.error_type;
        var message = document.createElement("span");
        message.className = "muted small";
        message.textContent = " " + (data.error || "");
        errorCell.appendChild(type);
        errorCell.appendChild(message);
      }
      var next = Array.prototype.find.call(feed.rows, function (r) { return Number(r.dataset.seq) > data.seq; });
      feed.insertBefore(row, next || null);
      // The feed shows the latest FEED_ROWS requests: a sweep may send thousands.
      while (feed.rows.length > FEED_ROWS) feed.deleteRow(0);
      if (emptyNote) emptyNote.hidden = true;
    }

    function finish(message) {
      if (finished) return;
      finished = true;
      stopPolling();
      if (socket) socket.close();
      note(message || "Finished: loading the results…");
      window.location.reload();
    }

    function handle(message) {
      if (message.type === "progress") {
        setProgress(message.completed, message.total, message.status, message.current_model);
      } else if (message.type === "result") {
        addResult(message.data);
      } else if (message.type === "complete") {
        finish();
      } else if (message.type === "error") {
        // "rejected": the stream refused this client (e.g. no session); polling still works.
        if (message.status === "rejected") {
          reconnects = MAX_RECONNECTS;
          mode("Updating every second");
          startPolling();
        } else {
          finish("The run failed: loading the details…");
        }
      }
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var url = scheme + window.location.host + section.dataset.streamPath + (contiguous ? "?after=" + contiguous : "");
      var opened = false;
      var ws;
      try {
        ws = new WebSocket(url);
      } catch (err) {
        mode("Updating every second");
        startPolling();
        return;
      }
      socket = ws;
      ws.addEventListener("open", function () {
        opened = true;
        reconnects = 0;
        stopPolling();
        mode("Live");
      });
      ws.addEventListener("message", function (event) {
        var message;
        try { message = JSON.parse(event.data); } catch (err) { return; }
        handle(message);
      });
      ws.addEventListener("close", function () {
        if (socket === ws) socket = null;
        if (finished) return;
        // Poll meanwhile; if the socket had worked, try it again (resuming after what we saw).
        startPolling();
        if (opened && reconnects < MAX_RECONNECTS) {
          reconnects += 1;
          mode("Connection lost: updating every second, reconnecting…");
          window.setTimeout(connect, 1000 * reconnects);
        } else {
          mode("Updating every second");
        }
      });
    }

    function startPolling() {
      if (polling || finished) return;
      polling = true;
      pollChain += 1;
      poll(pollChain);
    }

    function stopPolling() {
      polling = false;
      window.clearTimeout(pollTimer);
    }

    function poll(chain) {
      if (!polling || chain !== pollChain) return;
      var url = section.dataset.progressUrl + "?after=" + contiguous;
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (response.redirected && type.indexOf("application/json") === -1) {
            window.location.reload(); // the session ended: the page goes to the login form
            return null;
          }
          return response.ok ? response.json() : null;
        })
        .then(function (data) {
          if (!data || !polling || chain !== pollChain) return;
          data.results.forEach(addResult);
          setProgress(data.completed, data.total, data.status, null);
          if (data.finished) finish();
        })
        .catch(function () { /* the server may be restarting: try again */ })
        .then(function () {
          if (polling && !finished && chain === pollChain) {
            pollTimer = window.setTimeout(function () { poll(chain); }, POLL_MS);
          }
        });
    }

    if (typeof window.WebSocket === "function") {
      connect();
    } else {
      mode("Updating every second");
      startPolling();
    }
  }

  document.querySelectorAll("[data-live]").forEach(initLive);

  // --- charts -----------------------------------------------------------------------------------

  var CHARTS = {
    ttft: { unit: "ms", axis: "TTFT (ms)", p50: "ttft_p50" },
    tps: { unit: "tok/s", axis: "tok/s, excluding TTFT", p50: "tps_p50" },
  };

  var cssVar = window.ArgusCharts.cssVar;
  var withAlpha = window.ArgusCharts.withAlpha;

  // The same request always lands at the same height within its model's lane.
  function jitter(seq) {
    return (((seq * 0.6180339887) % 1) - 0.5) * 0.5;
  }

  function shortName(name) {
    return name.length > 30 ? name.slice(0, 29) + "…" : name;
  }

  function chartConfig(kind, models) {
    var spec = CHARTS[kind];
    var text = cssVar("--text");
    var muted = cssVar("--muted");
    var grid = cssVar("--border");
    var palette = [1, 2, 3, 4, 5, 6].map(function (i) { return cssVar("--chart-" + i); });
    var datasets = [];
    models.forEach(function (model, i) {
      var color = palette[i % palette.length];
      datasets.push({
        label: model.name,
        data: model[kind].map(function (s) { return { x: s.v, y: i + jitter(s.seq), seq: s.seq }; }),
        backgroundColor: withAlpha(color, 0.55),
        borderColor: color,
        borderWidth: 1.5,
        pointRadius: 5,
        pointHoverRadius: 7,
      });
      if (model[spec.p50] !== null) {
        datasets.push({
          label: model.name + " p50",
          median: true,
          data: [{ x: model[spec.p50], y: i }],
          pointStyle: "line",
          rotation: 90,
          pointRadius: 16,
          pointHoverRadius: 18,
          borderWidth: 3,
          borderColor: text,
          backgroundColor: text,
        });
      }
    });
    return {
      type: "scatter",
      data: { datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? models[Math.round(items[0].parsed.y)].name : ""; },
              label: function (item) {
                var value = item.parsed.x.toFixed(1) + " " + spec.unit;
                return item.dataset.median ? "median (p50): " + value : "request #" + item.raw.seq + ": " + value;
              },
            },
          },
        },
        scales: {
          x: {
            beginAtZero: true,
            title: { display: true, text: spec.axis, color: muted },
            ticks: { color: muted },
            grid: { color: grid },
            border: { color: grid },
          },
          y: {
            reverse: true,
            min: -0.5,
            max: models.length - 0.5,
            afterBuildTicks: function (axis) {
              axis.ticks = models.map(function (_, i) { return { value: i }; });
            },
            ticks: {
              color: text,
              font: { weight: "600" },
              callback: function (value) { return models[value] ? shortName(models[value].name) : ""; },
            },
            grid: { display: false },
            border: { color: grid },
          },
        },
      },
    };
  }

  function initCharts() {
    var source = document.getElementById("chart-data");
    if (!source || !window.ArgusCharts.available()) return;
    var models = JSON.parse(source.textContent).models;
    var canvases = document.querySelectorAll("canvas[data-chart]");

    function draw() {
      canvases.forEach(function (canvas) {
        window.ArgusCharts.draw(canvas, chartConfig(canvas.dataset.chart, models));
      });
    }

    canvases.forEach(function (canvas) {
      var box = canvas.closest("[data-chart-box]");
      if (box) box.style.height = 70 + 64 * models.length + "px";
    });
    draw();
    window.ArgusCharts.onThemeChange(draw);
  }

  initCharts();

  // --- sweeps: latency and throughput against load --------------------------------------------

  function sweepConfig(kind, data) {
    var text = cssVar("--text");
    var muted = cssVar("--muted");
    var grid = cssVar("--border");
    var palette = [1, 2, 3, 4, 5, 6].map(function (i) { return cssVar("--chart-" + i); });
    var datasets = [];
    var levels = [];
    data.models.forEach(function (model, i) {
      var color = palette[i % palette.length];
      var points = function (values) {
        return model.levels.map(function (level, j) { return { x: level, y: values[j] }; });
      };
      levels = levels.concat(model.levels);
      var main = kind === "rps" ? model.rps : model.value;
      datasets.push({
        label: model.name,
        data: points(main),
        borderColor: color,
        backgroundColor: color,
        borderWidth: 2.5,
        pointRadius: model.levels.map(function (level) { return level === model.sustainable ? 8 : 3.5; }),
        pointBorderWidth: model.levels.map(function (level) { return level === model.sustainable ? 3 : 1; }),
        pointBackgroundColor: model.levels.map(function (level) { return level === model.sustainable ? "transparent" : color; }),
      });
      if (kind === "latency") {
        datasets.push({ label: model.name + " p50", data: points(model.p50), borderColor: withAlpha(color, 0.6), borderWidth: 1, pointRadius: 0 });
      }
    });
    if (kind === "latency" && data.slo_ms) {
      var span = [Math.min.apply(null, levels), Math.max.apply(null, levels)];
      datasets.push({
        label: "SLO " + data.slo_ms + " ms",
        data: span.map(function (x) { return { x: x, y: data.slo_ms }; }),
        borderColor: text,
        borderDash: [6, 4],
        borderWidth: 1.5,
        pointRadius: 0,
      });
    }
    var ratio = Math.max.apply(null, levels) / Math.max(Math.min.apply(null, levels), 1e-9);
    return {
      type: "line",
      data: { datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        plugins: {
          legend: { labels: { color: text, filter: function (item) { return !/ p50$/.test(item.text); } } },
          tooltip: {
            callbacks: {
              label: function (item) {
                var unit = kind === "rps" ? " req/s" : " ms";
                return item.dataset.label + ": " + (item.parsed.y === null ? "–" : item.parsed.y.toFixed(1) + unit);
              },
            },
          },
        },
        scales: {
          x: {
            type: ratio >= 8 ? "logarithmic" : "linear",
            title: { display: true, text: data.unit, color: muted },
            ticks: { color: muted, callback: function (value) { return levels.indexOf(value) >= 0 ? value : ""; } },
            afterBuildTicks: function (axis) {
              axis.ticks = levels.filter(function (v, i) { return levels.indexOf(v) === i; }).map(function (v) { return { value: v }; });
            },
            grid: { color: grid },
            border: { color: grid },
          },
          y: {
            beginAtZero: true,
            title: { display: true, text: kind === "rps" ? "requests/s" : data.metric + " (ms)", color: muted },
            ticks: { color: muted },
            grid: { color: grid },
            border: { color: grid },
          },
        },
      },
    };
  }

  function initSweepCharts() {
    var source = document.getElementById("sweep-data");
    if (!source || !window.ArgusCharts.available()) return;
    var data = JSON.parse(source.textContent);
    var canvases = document.querySelectorAll("canvas[data-sweep-chart]");
    function draw() {
      canvases.forEach(function (canvas) {
        window.ArgusCharts.draw(canvas, sweepConfig(canvas.dataset.sweepChart, data));
      });
    }
    draw();
    window.ArgusCharts.onThemeChange(draw);
  }

  initSweepCharts();
})();
