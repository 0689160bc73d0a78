"""Request parsers of the API: DRF's, with the refusals that keep bad bodies at 400."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested too deep for Python's decoder is a 400, not a 500.

    ``json.loads`` raises RecursionError (not ValueError, which DRF turns into a ParseError) on
    a few kilobytes of ``[[[[…``: without this any key holder could raise a 500 at will.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from None


# The API's parsers: DRF's defaults with the JSON parser above.
PARSER_CLASSES: list[type[parsers.BaseParser]] = [JSONParser, parsers.FormParser, parsers.MultiPartParser]
