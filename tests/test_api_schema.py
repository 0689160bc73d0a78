"""The OpenAPI 3 schema is valid, describes the Api-Key scheme, and its docs are served locally."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.api_matrix import ENDPOINTS

EXPECTED_PATHS = {
    "/api/v1/me/",
    "/api/v1/api-keys/",
    "/api/v1/api-keys/{id}/",
    "/api/v1/api-keys/{id}/revoke/",
    "/api/v1/mso-entities/",
    "/api/v1/mso-entities/{id}/",
    "/api/v1/pcs/",
    "/api/v1/pcs/{id}/",
    "/api/v1/locations/",
    "/api/v1/locations/{id}/",
    "/api/v1/patient-charts/",
    "/api/v1/patient-charts/{id}/",
}


def test_generated_schema_validates_and_requires_the_api_key() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)  # raises on any OpenAPI 3 violation
    # The platform's own paths, and a list and a detail path for every endpoint of the API matrix.
    matrix = {ep.path.removesuffix("/") for ep in ENDPOINTS}
    documented = set(schema["paths"])
    assert documented >= EXPECTED_PATHS
    assert {f"{p}/" for p in matrix} | {f"{p}/{{id}}/" for p in matrix} <= documented
    undocumented = {
        p for p in documented if not p.startswith(tuple(f"{m}/" for m in matrix)) and p not in EXPECTED_PATHS
    }
    assert not undocumented, f"paths outside the API matrix (add them to tests/matrix): {undocumented}"
    assert schema["components"]["securitySchemes"] == {
        "ApiKeyAuth": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
        }
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{"ApiKeyAuth": []}], (path, method)
    # the tenant is never part of what a client sends or receives
    for name, component in schema["components"]["schemas"].items():
        assert "tenant_id" not in component.get("properties", {}), name
        if name != "Me":
            assert "tenant" not in component.get("properties", {}), name
    # detail ids are UUIDs; a chart is corrected in place, never deleted (clinical records are kept)
    params = schema["paths"]["/api/v1/locations/{id}/"]["get"]["parameters"]
    assert params[0]["schema"] == {"type": "string", "format": "uuid"}
    assert set(schema["paths"]["/api/v1/patient-charts/{id}/"]) == {"get", "put", "patch"}


def test_spectacular_command_validates_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert yaml.safe_load(out.read_text())["openapi"].startswith("3.")


@pytest.mark.django_db
def test_schema_and_docs_are_public_and_use_local_assets() -> None:
    client = APIClient()
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert schema["Content-Type"].startswith("application/vnd.oai.openapi")
    assert b"ApiKeyAuth" in schema.content
    for path, asset in (
        ("/api/v1/docs/", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
        ("/api/v1/redoc/", "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        html = page.content.decode()
        assert f"/static/{asset}" in html, path
        assert "cdn." not in html and "unpkg" not in html, path
        served = client.get(f"/static/{asset}")
        assert served.status_code == 200, asset


@pytest.mark.django_db
def test_docs_ignore_api_keys_and_need_none() -> None:
    response = APIClient().get("/api/v1/schema/", HTTP_AUTHORIZATION="Api-Key msok_garbage")
    assert response.status_code == 200


def test_every_write_documents_its_400_body_or_not() -> None:
    """A POST action without a body (submit of a published item) is refused with a 400 like any write."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    submit = schema["paths"]["/api/v1/marketing-assets/{id}/submit/"]["post"]
    assert "requestBody" not in submit
    assert submit["responses"]["400"]["content"]["application/json"]["schema"]["type"] == "object"
    writes = [
        (path, method, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in {"post", "put", "patch", "delete"}
    ]
    assert len(writes) > 50
    assert not [(path, method) for path, method, op in writes if "400" not in op["responses"]]
