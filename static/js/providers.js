// Providers page: the search box filters the provider-type <select> of the Add form.
// When the chosen type is filtered out, the first match is chosen instead, and a "change"
// event lets htmx fetch that type's credential fields.
(function () {
  var timer = null;

  function filterTypes(search) {
    var select = document.getElementById(search.getAttribute("aria-controls"));
    var status = document.querySelector("[data-provider-search-status]");
    if (!select) return;
    var term = search.value.trim().toLowerCase();
    var matches = [];
    select.querySelectorAll("optgroup").forEach(function (group) {
      var visible = 0;
      group.querySelectorAll("option").forEach(function (option) {
        var text = (option.textContent + " " + option.value).toLowerCase();
        var show = !term || text.indexOf(term) !== -1;
        option.hidden = !show;
        option.disabled = !show;
        if (show) { visible += 1; matches.push(option); }
      });
      group.hidden = visible === 0;
    });
    if (status) {
      status.textContent = term ? matches.length + " matching provider type" + (matches.length === 1 ? "" : "s") : "";
    }
    var current = select.options[select.selectedIndex];
    if (term && matches.length && (!current || current.hidden || !current.value)) {
      select.value = matches[0].value;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  document.addEventListener("input", function (event) {
    var search = event.target.closest("[data-provider-search]");
    if (!search) return;
    clearTimeout(timer);
    timer = setTimeout(function () { filterTypes(search); }, 200);
  });

  // Enter in the search box must not submit the Add form.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.closest("[data-provider-search]")) {
      event.preventDefault();
    }
  });
})();
