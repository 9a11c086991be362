// Shared behaviour for every page: theme switching.
(function () {
  function setTheme(theme) {
    document.documentElement.setAttribute("data-theme", theme);
    localStorage.setItem("arguslm-theme", theme);
  }
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-theme-toggle]");
    if (toggle) {
      var current = document.documentElement.getAttribute("data-theme");
      setTheme(current === "dark" ? "light" : "dark");
    }
    var set = event.target.closest("[data-theme-set]");
    if (set) setTheme(set.getAttribute("data-theme-set"));
  });
})();
