// Alerts: the sidebar bell (loaded on every page by templates/alerts_bell.html) and the rule
// form of the Alerts page. The bell is a <details>, so it opens and closes without JavaScript;
// this adds closing it on an outside click and on Escape. htmx re-renders its contents.
(function () {
  function openMenus() {
    return document.querySelectorAll("details.bell-menu[open]");
  }

  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    openMenus().forEach(function (menu) {
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  // Rule form: elements marked data-show-if="name=value1,value2" are shown only while the
  // form's control `name` has one of those values (a checkbox counts as "on" when checked).
  // The server renders the same visibility, so nothing jumps when the page loads.
  function controlValue(form, name) {
    var control = form.elements.namedItem(name);
    if (!control) return "";
    if (control.type === "checkbox") return control.checked ? "on" : "";
    return control.value;
  }

  function sync(form, keepInvalid) {
    form.querySelectorAll("[data-show-if]").forEach(function (el) {
      var rule = el.getAttribute("data-show-if");
      var eq = rule.indexOf("=");
      var wanted = rule.slice(eq + 1).split(",");
      var show = wanted.indexOf(controlValue(form, rule.slice(0, eq))) !== -1;
      // On load, a field the server flagged stays visible (e.g. a bad address, email off).
      if (keepInvalid && el.querySelector("[aria-invalid=true]")) show = true;
      el.hidden = !show;
    });
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form[data-rule-form]");
    if (form) sync(form, false);
  });

  // Back/forward navigation may restore edited form values: match the visibility to them.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-rule-form]").forEach(function (form) {
      sync(form, true);
    });
  });
})();
