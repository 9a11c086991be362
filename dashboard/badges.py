"""Shields-style flat SVG badges (label on grey, value on a colour chosen by threshold)."""

from django.utils.html import escape

# (lower bound of availability in %, colour), best first; shields.io's palette.
UPTIME_COLOURS = ((99.9, "#4c1"), (99.0, "#97ca00"), (95.0, "#dfb317"), (90.0, "#fe7d37"))
# (upper bound of TTFT in ms, colour), best first.
TTFT_COLOURS = ((500, "#4c1"), (1000, "#97ca00"), (2000, "#dfb317"), (5000, "#fe7d37"))
RED, GREY, LABEL = "#e05d44", "#9f9f9f", "#555"
CHAR_WIDTH, PADDING = 7, 10  # Verdana 11 px, roughly: badges need not be typeset exactly


def uptime(availability: float | None, window: str) -> str:
    if availability is None:
        return render(f"uptime {window}", "no data", GREY)
    percent = 100 * availability
    colour = next((c for bound, c in UPTIME_COLOURS if percent >= bound), RED)
    return render(f"uptime {window}", f"{percent:.2f}%", colour)


def ttft(p50_ms: float | None, window: str) -> str:
    if p50_ms is None:
        return render(f"ttft p50 {window}", "no data", GREY)
    colour = next((c for bound, c in TTFT_COLOURS if p50_ms < bound), RED)
    value = f"{p50_ms:.0f} ms" if p50_ms < 10_000 else f"{p50_ms / 1000:.1f} s"
    return render(f"ttft p50 {window}", value, colour)


def render(label: str, value: str, colour: str) -> str:
    left = len(label) * CHAR_WIDTH + PADDING
    right = len(value) * CHAR_WIDTH + PADDING
    width = left + right
    label, value = escape(label), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{label}: {value}"><title>{label}: {value}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="{LABEL}"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<rect width="{width}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{label}</text>'
        f'<text x="{left / 2:.1f}" y="14">{label}</text>'
        f'<text x="{left + right / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{value}</text>'
        f'<text x="{left + right / 2:.1f}" y="14">{value}</text></g></svg>'
    )
