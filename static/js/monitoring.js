// Monitoring page: the custom interval field shows only when "Custom…" is chosen.
// Without JavaScript both fields stay visible and the server reads the one the select names.
(function () {
  function sync(select) {
    var form = select.closest("form");
    var custom = form && form.querySelector("[data-interval-custom]");
    if (!custom) return;
    var isCustom = select.value === "custom";
    custom.hidden = !isCustom;
    var input = custom.querySelector("input");
    if (isCustom && input && document.activeElement === select) input.focus();
  }

  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-interval-choice]");
    if (select) sync(select);
  });

  function init() {
    document.querySelectorAll("[data-interval-choice]").forEach(sync);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
