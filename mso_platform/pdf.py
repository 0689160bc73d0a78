"""The project's one PDF renderer: Django template → HTML → PDF (WeasyPrint), fully offline.

One path for every PDF because PDFs carry PHI and text users typed: the Django template autoescapes
that text, the URL fetcher below never opens a socket nor reads a file outside the static folders,
and the response is never cached.

PDF templates extend ``pdf/base.html`` (blocks: ``content``, ``disclaimer``, ``tenant``,
``page_size``, ``extra_head``) and receive ``title`` and ``generated_at`` besides their own context;
pass the tenant as ``context["tenant"]`` for the header.
"""

from __future__ import annotations

import datetime as dt
import logging
import mimetypes
import posixpath
import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin

import weasyprint
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils._os import safe_join
from django.utils.cache import add_never_cache_headers
from weasyprint.urls import URLFetcher, URLFetcherResponse

logger = logging.getLogger(__name__)

# Base URL of every document: {% static %} paths and relative URLs resolve under it. The ".invalid"
# TLD can never resolve (RFC 2606), and the fetcher answers it from disk without any request anyway.
ASSET_ORIGIN = "https://pdf-assets.invalid/"


class ResourceRefused(ValueError):
    """A PDF asked for something other than a static file or a data: URL."""


class StaticFilesURLFetcher(URLFetcher):
    """Serves static files and data: URLs to WeasyPrint and refuses everything else.

    WeasyPrint's default fetcher follows any http(s)/file URL a template or user text names, which
    would leak PHI to remote hosts and read local files. Refusals raise, so WeasyPrint logs them and
    leaves the resource out (a broken image shows its alt text); rendering carries on.
    """

    def __init__(self) -> None:
        # The parent only ever handles data: URLs (see fetch); the allow-list locks that in twice.
        super().__init__(allowed_protocols=("data",))
        self.static_base = urljoin(ASSET_ORIGIN, settings.STATIC_URL or "/static/")
        self.refused: list[str] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        if url[:5].lower() == "data:":
            return super().fetch(url, headers)
        path = self.static_file(url)
        if path is None:
            self.refused.append(url)
            logger.warning("PDF resource refused (only static files are served): %.200s", url)
            raise ResourceRefused(f"not a static file: {url[:200]}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})

    def static_file(self, url: str) -> Path | None:
        """The file a URL under static_base names, from STATIC_ROOT or the finders; None otherwise."""
        if not url.startswith(self.static_base):
            return None
        name = unquote(re.split(r"[?#]", url[len(self.static_base) :], maxsplit=1)[0])
        normal = posixpath.normpath(name) if name else ""
        # Absolute URLs skip WeasyPrint's dot-segment resolution: refuse any climb out of static.
        if not name or normal == ".." or normal.startswith(("../", "/")) or "\\" in name or "\0" in name:
            return None
        try:
            # Collected files first: production's manifest storage names hashed copies only there.
            if settings.STATIC_ROOT:
                collected = Path(safe_join(settings.STATIC_ROOT, normal))
                if collected.is_file():
                    return collected
            found = finders.find(normal)
        except SuspiciousFileOperation:
            return None
        return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def render_html(
    template_name: str, context: dict[str, Any], *, title: str, generated_at: dt.datetime | None = None
) -> str:
    """The HTML a PDF is made from; exposed so tests and previews can inspect it."""
    stamp = (generated_at or timezone.now()).astimezone(dt.UTC)
    return render_to_string(template_name, {**context, "title": title, "generated_at": stamp})


def render_document(
    template_name: str, context: dict[str, Any], *, title: str, generated_at: dt.datetime | None = None
) -> weasyprint.Document:
    """The laid-out document (pages, their boxes), before it is written as PDF bytes."""
    html = render_html(template_name, context, title=title, generated_at=generated_at)
    fetcher = StaticFilesURLFetcher()
    return weasyprint.HTML(string=html, base_url=fetcher.static_base, url_fetcher=fetcher).render()


def render_pdf(
    template_name: str, context: dict[str, Any], *, title: str, generated_at: dt.datetime | None = None
) -> bytes:
    """Render a template extending pdf/base.html as PDF bytes; generated_at defaults to now (UTC)."""
    pdf: bytes = render_document(template_name, context, title=title, generated_at=generated_at).write_pdf()
    return pdf


def safe_filename(filename: str) -> str:
    """ASCII-only, header-safe name ending in .pdf: no quotes, slashes or control characters."""
    stem = filename.removesuffix(".pdf").removesuffix(".PDF")
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    # Runs of anything else, ".." included, become one hyphen.
    cleaned = re.sub(r"(?:[^A-Za-z0-9._-]|\.{2,}|-)+", "-", ascii_stem).strip("-._")[:100]
    return f"{cleaned or 'document'}.pdf"


def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    """A download of the PDF that no browser or proxy keeps, since it may hold PHI."""
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{safe_filename(filename)}"'
    # Cache-Control: max-age=0, no-cache, no-store, must-revalidate, private
    add_never_cache_headers(response)
    return response
