"""The PDF renderer (mso_platform/pdf.py): real WeasyPrint renders, no network, escaped user text."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import weasyprint
from django.conf import settings
from django.test import override_settings
from weasyprint.formatting_structure import boxes

from mso_platform.pdf import (
    ResourceRefused,
    StaticFilesURLFetcher,
    pdf_response,
    render_document,
    render_html,
    render_pdf,
)
from tenants.models import Tenant

GENERATED_AT = dt.datetime(2026, 1, 15, 20, 30, tzinfo=dt.UTC)
LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
    "labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco."
)

TEMPLATES = {
    "note.html": """{% extends "pdf/base.html" %}
{% block content %}<h1>{{ title }}</h1><p class="note">{{ note }}</p>{% endblock %}""",
    "long.html": """{% extends "pdf/base.html" %}
{% block disclaimer %}Confidential: protected health information.{% endblock %}
{% block content %}{% for i in rows %}<p>Paragraph {{ i }}. {{ lorem }}</p>{% endfor %}{% endblock %}""",
    "a4.html": """{% extends "pdf/base.html" %}{% block page_size %}a4{% endblock %}
{% block content %}<p>A4 page</p>{% endblock %}""",
    # Everything a careless template could ask for, next to the one image it may have.
    "remote.html": """{% extends "pdf/base.html" %}{% load static %}
{% block extra_head %}<link rel="stylesheet" href="{{ origin }}/remote.css">
<style>@import url("{{ origin }}/import.css");
.pdf-content { background: url("{{ origin }}/bg.png"); }</style>
{% endblock %}
{% block content %}<p>Body text</p>
<img src="{{ origin }}/pixel.png" alt="remote-image-refused">
<img src="file:///etc/hostname" alt="local-file-refused">
<img src="{% static 'favicon.svg' %}" alt="static-image-missing">
{% endblock %}""",
}


@pytest.fixture(autouse=True)
def pdf_templates(tmp_path: Path) -> Iterator[None]:
    """Test templates extending pdf/base.html, found before the project's own."""
    for name, source in TEMPLATES.items():
        (tmp_path / name).write_text(source)
    project = settings.TEMPLATES[0]
    engine = {**project, "DIRS": [tmp_path, *cast(list[Path], project["DIRS"])]}
    with override_settings(TEMPLATES=[engine]):
        yield


@pytest.fixture
def local_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 recording every request it gets; a renderer must send none."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(b"body { color: red; }")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", hits
    finally:
        server.shutdown()
        server.server_close()


def page_texts(document: weasyprint.Document) -> list[str]:
    """The text laid out on each page, margin boxes (header, footer, page number) included."""
    return [
        " ".join(box.text for box in page._page_box.descendants() if isinstance(box, boxes.TextBox))
        for page in document.pages
    ]


def images(document: weasyprint.Document) -> list[Any]:
    return [
        box
        for page in document.pages
        for box in page._page_box.descendants()
        if isinstance(box, boxes.ReplacedBox)
    ]


def test_one_page_pdf_carries_title_tenant_page_number_and_utc_timestamp() -> None:
    context = {"note": "Consent on file.", "tenant": Tenant(name="Glow Med Spa")}

    pdf = render_pdf("note.html", context, title="Treatment summary", generated_at=GENERATED_AT)
    document = render_document("note.html", context, title="Treatment summary", generated_at=GENERATED_AT)

    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(document.pages) == 1
    [text] = page_texts(document)
    for expected in ("Glow Med Spa", "Treatment summary", "Consent on file.", "Page 1 of 1"):
        assert expected in text
    # 20:30 UTC, not the 12:30 of the project's Los Angeles TIME_ZONE.
    assert "Generated 2026-01-15 20:30 UTC" in text
    assert "<title>Treatment summary</title>" in render_html("note.html", context, title="Treatment summary")


def test_generated_at_given_in_another_zone_is_printed_in_utc() -> None:
    pacific = GENERATED_AT.astimezone(ZoneInfo("America/Los_Angeles"))

    [text] = page_texts(render_document("note.html", {"note": "x"}, title="T", generated_at=pacific))

    assert "Generated 2026-01-15 20:30 UTC" in text


def test_same_input_gives_the_same_bytes() -> None:
    def render() -> bytes:
        return render_pdf("note.html", {"note": "Same"}, title="Stable", generated_at=GENERATED_AT)

    assert render() == render()


def test_long_document_paginates_with_header_footer_and_numbers_on_every_page() -> None:
    context = {"rows": range(250), "lorem": LOREM, "tenant": Tenant(name="Glow Med Spa")}

    document = render_document("long.html", context, title="Chart export", generated_at=GENERATED_AT)
    texts = page_texts(document)

    assert 15 <= len(texts) <= 25
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {len(texts)}" in text
        assert "Glow Med Spa" in text and "Chart export" in text
        assert "Confidential: protected health information." in text
        assert "Generated 2026-01-15 20:30 UTC" in text
    assert "Paragraph 0." in texts[0] and "Paragraph 249." in texts[-1]
    assert document.write_pdf().startswith(b"%PDF-")


def test_pages_are_letter_by_default_and_a4_on_request() -> None:
    [letter] = render_document("note.html", {"note": "x"}, title="T").pages
    [a4] = render_document("a4.html", {}, title="T").pages

    # CSS pixels, 96 per inch: Letter is 8.5 x 11 in, A4 210 x 297 mm. Also proves pdf.css was loaded.
    assert (letter.width, letter.height) == pytest.approx((816, 1056))
    assert (a4.width, a4.height) == pytest.approx((210 / 25.4 * 96, 297 / 25.4 * 96))


def test_user_text_is_escaped_and_shown_as_text_not_markup(local_server: tuple[str, list[str]]) -> None:
    origin, hits = local_server
    note = f'<script>alert(1)</script><b>bold</b><img src="{origin}/typed.png" alt="typed-image">'

    html = render_html("note.html", {"note": note}, title="T")
    document = render_document("note.html", {"note": note}, title="T")

    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;&lt;img src=&quot;" in html
    [text] = page_texts(document)
    assert "<script>alert(1)</script><b>bold</b><img src=" in text  # printed literally
    assert images(document) == []
    assert hits == []


def test_remote_and_file_urls_in_a_template_are_refused_without_any_request(
    local_server: tuple[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    origin, hits = local_server

    with caplog.at_level(logging.WARNING, logger="mso_platform.pdf"):
        pdf = render_pdf("remote.html", {"origin": origin}, title="Remote")
        document = render_document("remote.html", {"origin": origin}, title="Remote")

    assert pdf.startswith(b"%PDF-")
    assert hits == []  # the server on 127.0.0.1 never heard from the renderer
    refused = "\n".join(r.getMessage() for r in caplog.records if r.name == "mso_platform.pdf")
    for url in ("remote.css", "import.css", "bg.png", "pixel.png"):
        assert f"{origin}/{url}" in refused
    assert "file:///etc/hostname" in refused
    [text] = page_texts(document)
    # Refused images fall back to their alt text; the static one is drawn.
    assert "remote-image-refused" in text and "local-file-refused" in text
    assert "static-image-missing" not in text
    assert len(images(document)) == 1


def test_control_weasyprints_own_fetcher_would_have_made_those_requests(
    local_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shows the test above can fail: the same HTML through WeasyPrint's default fetcher hits the server."""
    origin, hits = local_server
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)  # straight to 127.0.0.1, whatever the CI's proxy

    weasyprint.HTML(string=render_html("remote.html", {"origin": origin}, title="Remote")).render()

    assert {"/remote.css", "/pixel.png"} <= set(hits)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/pixel.png",
        "https://example.com/pdf/pdf.css",
        "ftp://example.com/a.css",
        "file:///etc/passwd",
        "//example.com/pdf/pdf.css",
        "static/pdf/pdf.css",
        "https://pdf-assets.invalid/pdf/pdf.css",  # the origin, but outside STATIC_URL
        "https://pdf-assets.invalid/static/",
        "https://pdf-assets.invalid/static/../../etc/passwd",
        "https://pdf-assets.invalid/static/%2e%2e/%2e%2e/etc/passwd",
        "https://pdf-assets.invalid/static//etc/passwd",
        "https://pdf-assets.invalid/static/pdf/no-such-file.css",
    ],
)
def test_fetcher_refuses_everything_but_static_files(url: str) -> None:
    fetcher = StaticFilesURLFetcher()

    with pytest.raises(ResourceRefused):
        fetcher.fetch(url)

    assert fetcher.refused == [url]


def test_fetcher_serves_static_files_and_data_urls() -> None:
    fetcher = StaticFilesURLFetcher()

    css = fetcher.fetch(f"{fetcher.static_base}pdf/pdf.css?v=1")
    data = fetcher.fetch("data:text/plain;base64,aGVsbG8=")

    assert css.content_type == "text/css"
    assert css.read() == (Path(settings.BASE_DIR) / "static/pdf/pdf.css").read_bytes()
    assert data.read() == b"hello"
    assert fetcher.refused == []


def test_fetcher_prefers_collected_static_root(tmp_path: Path) -> None:
    (tmp_path / "pdf").mkdir()
    (tmp_path / "pdf" / "pdf.0123abcd.css").write_text("html { color: black; }")

    with override_settings(STATIC_ROOT=tmp_path):
        fetcher = StaticFilesURLFetcher()
        fetched = fetcher.fetch(f"{fetcher.static_base}pdf/pdf.0123abcd.css")

    assert fetched.read() == b"html { color: black; }"


def test_pdf_response_is_an_uncached_attachment_with_an_ascii_filename() -> None:
    pdf = render_pdf("note.html", {"note": "x"}, title="T")

    response = pdf_response(pdf, 'Chart "Zoë Ñúñez"/../../etc\r\nX-Evil: 1.pdf')

    assert response.content == pdf
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="Chart-Zoe-Nunez-etc-X-Evil-1.pdf"'
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert pdf_response(pdf, "日本語.pdf")["Content-Disposition"] == 'attachment; filename="document.pdf"'
