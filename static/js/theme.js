// Applied before first paint so the page never flashes the wrong theme.
(function () {
  var theme = localStorage.getItem("arguslm-theme") || "dark";
  document.documentElement.setAttribute("data-theme", theme);
})();
