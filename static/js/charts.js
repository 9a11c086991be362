// Chart.js helpers shared by the dashboard, the model page and a benchmark run's page: the
// theme's colors, the page's font, one chart per canvas, and a redraw when the theme changes.
window.ArgusCharts = (function () {
  "use strict";

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // The theme's colors are #rrggbb; Chart.js needs rgba() for translucent fills.
  function withAlpha(color, alpha) {
    var hex = /^#([0-9a-f]{6})$/i.exec(color);
    if (!hex) return color;
    var n = parseInt(hex[1], 16);
    return "rgba(" + (n >> 16) + ", " + ((n >> 8) & 255) + ", " + (n & 255) + ", " + alpha + ")";
  }

  // Whether Chart.js is loaded; if so, charts use the page's font.
  function available() {
    if (typeof window.Chart !== "function") return false;
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.font.size = 12;
    return true;
  }

  // Draw a chart on a canvas, replacing the one drawn there before.
  function draw(canvas, config) {
    var existing = window.Chart.getChart(canvas);
    if (existing) existing.destroy();
    return new window.Chart(canvas, config);
  }

  // The theme toggle flips data-theme on <html>: call back to redraw with its colors.
  function onThemeChange(callback) {
    new MutationObserver(callback).observe(document.documentElement, {
      attributes: true,
      attributeFilter: ["data-theme"],
    });
  }

  return { cssVar: cssVar, withAlpha: withAlpha, available: available, draw: draw, onThemeChange: onThemeChange };
})();
