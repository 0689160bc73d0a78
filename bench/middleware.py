"""The product's tenancy middlewares, passed through only for the bare baseline endpoint.

Every other path runs the product classes unchanged (``super().__call__``), so the pages and API
measured by the benchmark are exactly what production serves.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from tenants import middleware as product

BARE_PREFIX = "/bench/bare/"


def is_bare(request: HttpRequest) -> bool:
    return request.path_info.startswith(BARE_PREFIX)


class RequestTransactionMiddleware(product.RequestTransactionMiddleware):
    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_bare(request):
            return self.get_response(request)  # plain Django: autocommit, the login role
        return super().__call__(request)


class TenantMiddleware(product.TenantMiddleware):
    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_bare(request):
            return self.get_response(request)
        return super().__call__(request)
