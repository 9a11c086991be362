"""Keyboard and screen-reader basics, checked in the page itself: every control has a name,
headings go down one level at a time, header cells say what they head, text has enough
contrast (WCAG AA) in the current theme, the focused control shows it, and Tab walks a form's
controls in their order.

Each check answers a list of problems (empty when the page passes), so a failing test says
which element failed and why.
"""

# Visible, enabled form controls and buttons without an accessible name.
UNNAMED_JS = """
(root) => {
  const scope = document.querySelector(root) || document;
  const out = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  for (const el of scope.querySelectorAll('input, select, textarea, button, summary, a[href]')) {
    if (el.type === 'hidden' || !visible(el)) continue;
    const labelled = (el.labels && [...el.labels].some(l => l.textContent.trim()))
      || (el.getAttribute('aria-label') || '').trim()
      || (el.getAttribute('aria-labelledby') || '').split(' ').some(id => {
           const ref = id && document.getElementById(id); return ref && ref.textContent.trim(); })
      || (el.getAttribute('title') || '').trim()
      || (['BUTTON', 'SUMMARY', 'A'].includes(el.tagName) && el.textContent.trim());
    if (!labelled) out.push(el.outerHTML.slice(0, 160));
  }
  return out;
}
"""

# Headings that skip a level on the way down (h2 → h4).
HEADINGS_JS = """
() => {
  const out = [];
  let last = 0;
  const all = document.querySelectorAll('main h1, main h2, main h3, main h4, main h5, main h6');
  for (const h of all) {
    if (!(h.offsetWidth || h.offsetHeight)) continue;
    const level = Number(h.tagName[1]);
    if (last && level > last + 1) {
      out.push(`h${last} → ${h.tagName.toLowerCase()}: ${h.textContent.trim().slice(0, 60)}`);
    }
    last = level;
  }
  if (!document.querySelector('main h1')) out.push('no h1');
  return out;
}
"""

# Header cells of column headers without scope (a th in a thead or a table's first row).
SCOPE_JS = """
() => [...document.querySelectorAll('main th:not([scope])')]
  .map(th => th.closest('table').className + ': ' + th.textContent.trim().slice(0, 40))
"""

# Text whose colour is too close to its background (WCAG AA: 4.5:1, 3:1 for large text).
# The background is the first opaque one found walking up; disabled controls are exempt.
CONTRAST_JS = """
(root) => {
  const probe = document.createElement('canvas').getContext('2d');
  function rgba(value) {
    // The canvas normalises most CSS colours to #rrggbb or rgba(); color-mix() results stay
    // color(srgb r g b / a), channels 0–1.
    probe.fillStyle = '#000'; probe.fillStyle = value;
    const v = probe.fillStyle;
    if (v.startsWith('#')) {
      return [1, 3, 5].map(i => parseInt(v.slice(i, i + 2), 16)).concat(1);
    }
    const n = '([0-9.e-]+)';
    const srgb = v.match(new RegExp(`color[(]srgb ${n} ${n} ${n}(?: / ${n})?[)]`));
    if (srgb) {
      return [1, 2, 3].map(i => Number(srgb[i]) * 255).concat(srgb[4] ? Number(srgb[4]) : 1);
    }
    const m = v.match(/rgba?\\(([^)]+)\\)/);
    const p = m[1].split(',').map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function lum([r, g, b]) {
    const c = [r, g, b].map(x => {
      x /= 255;
      return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function over(top, bottom) {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat(1);
  }
  function background(el) {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (const layer of layers.reverse()) bg = over(layer, bg);
    return bg;
  }
  const out = [];
  const scope = document.querySelector(root) || document.body;
  const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el)) continue;
    seen.add(el);
    const exempt = '.visually-hidden, [disabled], [aria-disabled=true], option, datalist';
    if (!(el.offsetWidth || el.offsetHeight) || el.closest(exempt)) continue;
    const style = getComputedStyle(el);
    let opacity = 1;
    for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
    if (opacity < 1) continue;  // dimmed on purpose (disabled, loading): exempt as disabled
    const bg = background(el);
    const fg = over(rgba(style.color), bg);
    const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      const what = el.tagName.toLowerCase() + '.' + [...el.classList].join('.');
      out.push(`${ratio.toFixed(2)}: ${what} “${el.textContent.trim().slice(0, 40)}”`);
    }
  }
  return out;
}
"""

# The focused element's focus indicator: an outline or a box shadow.
FOCUS_SHOWN_JS = """
() => {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
}
"""


def problems(page, root: str = "main") -> dict[str, list[str]]:
    """Every failed basic on the page as it is now (run it in each theme for the contrast)."""
    found = {
        "unnamed": page.evaluate(UNNAMED_JS, root),
        "headings": page.evaluate(HEADINGS_JS),
        "scope": page.evaluate(SCOPE_JS),
        # One line per kind of element: a table's rows repeat the same failure.
        "contrast": sorted(set(page.evaluate(CONTRAST_JS, root))),
    }
    return {key: value for key, value in found.items() if value}


def tab_order(page, form: str) -> tuple[list[str], list[str]]:
    """(expected, reached): the form's visible controls in document order, and those Tab
    reaches from the first one, each focus shown."""
    controls = page.locator(form).evaluate(
        """f => [...f.querySelectorAll('input, select, textarea, button, a[href]')]
              .filter(el => el.type !== 'hidden' && (el.offsetWidth || el.offsetHeight))
              .map(el => el.id || el.name || el.textContent.trim())"""
    )
    # Focus by keyboard (Shift+Tab back, Tab in), so the browser shows it as it would to
    # someone tabbing.
    page.locator(form).locator("input, select, textarea, button, a[href]").first.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    reached = []
    for _ in controls:
        reached.append(
            page.evaluate(
                "() => document.activeElement.id || document.activeElement.name || "
                "document.activeElement.textContent.trim()"
            )
        )
        assert page.evaluate(FOCUS_SHOWN_JS), f"no visible focus on {reached[-1]}"
        page.keyboard.press("Tab")
    return controls, reached
