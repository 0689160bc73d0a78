"""OpenAPI description of the API-key scheme and of the refusals every tenant-scoped endpoint gives.

Without the refusals the schema promised only 200/201, so a client (or schemathesis) reading it
could not know that a missing key is a 401, another tenant's id a 404 and bad input a 400.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from tenants.api.authentication import KEYWORD


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                f"`Authorization: {KEYWORD} <key>`. The key fixes the tenant and the capacity; "
                "business keys never reach clinical endpoints."
            ),
        }


class ErrorSerializer(serializers.Serializer[dict[str, str]]):
    detail = serializers.CharField(help_text="Why the request was refused.")


VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Each offending field (or `detail`, `non_field_errors`) with its messages; nothing was written."
    ),
    "additionalProperties": {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
    },
}

REFUSALS = {
    "401": "No API key, or a malformed, unknown or revoked one, or the membership behind it ended.",
    "404": (
        "No such object for this key: absent, another tenant's, outside the key's PCs/locations, or a "
        "capacity that may not do this at all (same answer for each). Also an out-of-range page."
    ),
    "413": "The body is larger than the API accepts (DATA_UPLOAD_MAX_MEMORY_SIZE, 5 MiB by default).",
    "429": "Over this key's rate limit; retry after the Retry-After seconds.",
}

# Every write can be refused for its input or for the state of what it changes, body or not (a POST
# action declared with request=None, e.g. submit of a published item, answers 400 too).
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TenantAutoSchema(AutoSchema):
    """AutoSchema that adds the refusals each tenant-scoped operation can give to its success answer."""

    def refusals(self, operation: dict[str, Any]) -> list[str]:
        codes = ["401"]
        if hasattr(self.view, "get_queryset"):  # /me/ looks nothing up
            codes.append("404")
        if "requestBody" in operation:
            codes += ["400", "413"]
        elif self.method.upper() in WRITE_METHODS:
            codes.append("400")
        elif getattr(self.view, "action", None) == "list" and getattr(self.view, "filterset_class", None):
            codes.append("400")  # filter values are validated
        if getattr(self.view, "throttle_classes", None):
            codes.append("429")
        return codes

    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses: dict[str, Any] = operation.setdefault("responses", {})
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for code in self.refusals(operation):
            if code == "400":
                description = (
                    "Invalid input (body, filter or reference), or a step the object's state does not "
                    "allow; nothing was written."
                )
                schema: dict[str, Any] = VALIDATION_ERROR_SCHEMA
            else:
                description, schema = REFUSALS[code], error
            responses.setdefault(
                code, {"description": description, "content": {"application/json": {"schema": schema}}}
            )
        return operation
