"""Content negotiation for the API (its own module: DRF imports it while loading)."""

from rest_framework.negotiation import BaseContentNegotiation


class FirstRendererNegotiation(BaseContentNegotiation):
    """Always answer with the view's first renderer (JSON): exports set their own types.

    DRF would otherwise answer 406 to a client sending ``Accept: text/csv`` to an export.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return (renderers[0], renderers[0].media_type)
