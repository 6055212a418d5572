// The dashboard's own script, on top of htmx: draws the charts from the JSON
// the server puts in the page, and says in a sentence when a refresh failed.
(function () {
  "use strict";

  const PALETTE = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#475569"];
  const BUY = "#1d4ed8";
  const SELL = "#c2410c";
  let equity = null; // {box, api, lines: Map(name -> series)}

  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function chartOptions() {
    return {
      autoSize: true,
      layout: {
        background: { type: "solid", color: "#ffffff" },
        textColor: "#334155",
        fontFamily: getComputedStyle(document.body).fontFamily,
        attributionLogo: true,
      },
      grid: { vertLines: { color: "#eef2f7" }, horzLines: { color: "#eef2f7" } },
      rightPriceScale: { borderColor: "#cbd5e1" },
      timeScale: { borderColor: "#cbd5e1", timeVisible: true, secondsVisible: false },
    };
  }

  function pricePrecision(value) {
    if (value < 1) return 8;
    if (value < 100) return 4;
    return 2;
  }

  function drawEquity() {
    const box = document.getElementById("equity-chart");
    const data = readJson("equity-data");
    if (!box || !data || !window.LightweightCharts) return;
    const first = !equity || equity.box !== box;
    if (first) {
      equity = { box: box, api: LightweightCharts.createChart(box, chartOptions()), lines: new Map() };
    }
    const legend = document.getElementById("equity-legend");
    if (legend) legend.replaceChildren();
    data.series.forEach(function (series, index) {
      const color = PALETTE[index % PALETTE.length];
      let line = equity.lines.get(series.name);
      if (!line) {
        line = equity.api.addSeries(LightweightCharts.LineSeries, {
          color: color,
          lineWidth: 2,
          title: series.name,
          priceLineVisible: false,
          priceFormat: { type: "price", precision: 2, minMove: 0.01 },
        });
        equity.lines.set(series.name, line);
      }
      line.setData(series.points.map(function (p) { return { time: p[0], value: p[1] }; }));
      if (legend) {
        const item = document.createElement("li");
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = line.options().color;
        item.append(swatch, series.name);
        legend.append(item);
      }
    });
    if (first) equity.api.timeScale().fitContent();
  }

  function drawCandles() {
    const box = document.getElementById("candle-chart");
    const data = readJson("candle-data");
    if (!box || !data || !window.LightweightCharts || box.dataset.drawn) return;
    box.dataset.drawn = "true";
    const api = LightweightCharts.createChart(box, chartOptions());
    const last = data.candles.length ? data.candles[data.candles.length - 1].close : 1;
    const precision = pricePrecision(last);
    const series = api.addSeries(LightweightCharts.CandlestickSeries, {
      upColor: "#16a34a",
      downColor: "#dc2626",
      borderVisible: false,
      wickUpColor: "#16a34a",
      wickDownColor: "#dc2626",
      priceFormat: { type: "price", precision: precision, minMove: Math.pow(10, -precision) },
    });
    series.setData(data.candles);
    LightweightCharts.createSeriesMarkers(series, data.markers.map(function (m) {
      const buy = m.side === "BUY";
      return {
        time: m.time,
        position: buy ? "belowBar" : "aboveBar",
        color: buy ? BUY : SELL,
        shape: buy ? "arrowUp" : "arrowDown",
        text: m.text,
      };
    }));
    api.timeScale().fitContent();
  }

  // A proposal's evidence: the equity of the backtest before the change and after it.
  function drawEvidence() {
    document.querySelectorAll(".evidence-chart").forEach(function (box) {
      const data = readJson(box.dataset.source);
      if (!data || !window.LightweightCharts || box.dataset.drawn) return;
      box.dataset.drawn = "true";
      const api = LightweightCharts.createChart(box, chartOptions());
      [["before", "#64748b", 2], ["after", "#2563eb", 0]].forEach(function (spec) {
        const line = api.addSeries(LightweightCharts.LineSeries, {
          color: spec[1],
          lineWidth: 2,
          lineStyle: spec[2],
          title: spec[0],
          priceLineVisible: false,
          priceFormat: { type: "price", precision: 2, minMove: 0.01 },
        });
        line.setData(data[spec[0]].map(function (p) { return { time: p[0], value: p[1] }; }));
      });
      api.timeScale().fitContent();
    });
  }

  // Time left before a proposal expires. The server wrote the seconds left when
  // it rendered the card; counting down from there ignores this computer's clock.
  const countdownStart = new WeakMap();

  function formatLeft(total) {
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const seconds = total % 60;
    const pad = function (n) { return String(n).padStart(2, "0"); };
    if (hours) return hours + " h " + pad(minutes) + " min";
    if (minutes) return minutes + " min " + pad(seconds) + " s";
    return seconds + " s";
  }

  function tick() {
    const now = performance.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (node) {
      if (!countdownStart.has(node)) countdownStart.set(node, now);
      const left = Math.round(Number(node.dataset.seconds) - (now - countdownStart.get(node)) / 1000);
      if (left > 0) {
        node.textContent = formatLeft(left);
        return;
      }
      node.textContent = "0 s";
      const card = node.closest(".approval");
      const form = card && card.querySelector("form.decide-form");
      if (form && !form.hidden) {
        form.hidden = true;
        const note = document.createElement("p");
        note.className = "notice notice--warning";
        note.textContent = "It has expired: it can no longer be approved or rejected.";
        form.after(note);
      }
    });
  }

  // The backtest form lists every strategy's parameters (so it works without
  // JavaScript); show only the chosen strategy's.
  function showChosenParams() {
    document.querySelectorAll(".backtest-form").forEach(function (form) {
      const select = form.querySelector("select[name=strategy]");
      if (!select) return;
      form.querySelectorAll("fieldset.params").forEach(function (fieldset) {
        fieldset.hidden = fieldset.dataset.strategy !== select.value;
      });
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches(".backtest-form select[name=strategy]")) showChosenParams();
  });

  function draw() {
    drawEquity();
    drawCandles();
    drawEvidence();
    showChosenParams();
    tick();
  }

  setInterval(tick, 1000);

  // Refusals come back as sentences inside the page; these are the cases where
  // no answer came back at all, or one the page cannot show.
  const status = document.getElementById("page-status");

  function say(message) {
    if (!status) return;
    status.hidden = false;
    status.textContent = message;
  }

  document.addEventListener("htmx:responseError", function (event) {
    const code = event.detail.xhr ? event.detail.xhr.status : "unknown";
    say("The server could not answer (error " + code + "). The page shows the last data it had; try again in a moment.");
  });
  document.addEventListener("htmx:sendError", function () {
    say("The server cannot be reached. The page shows the last data it had and will keep trying.");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful && status && !status.hidden) {
      status.hidden = true;
      status.textContent = "";
    }
  });
  document.addEventListener("htmx:afterSettle", draw);

  draw();
})();
