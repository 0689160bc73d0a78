"""Per-area API matrix entries (tests.api_matrix.Endpoint), collected here in one list.

Each area module defines ``ENDPOINTS: list[Endpoint]``; add the module to AREAS below. The modules
import tests.api_matrix lazily-safe: api_matrix imports this package after defining Endpoint.
"""

from __future__ import annotations

import importlib
from typing import Any

AREAS: list[str] = [
    "workforce",
    "frontdesk",
    "parties",
    "agreements",
    "clinical",
    "marketing",
    "decisions",
    "compliance",
]


def collect() -> list[Any]:
    found: list[Any] = []
    for area in AREAS:
        found += importlib.import_module(f"tests.matrix.{area}").ENDPOINTS
    return found
