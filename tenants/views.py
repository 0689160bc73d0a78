"""The browser shell: sign-in, tenant picker, capacity switch, navigation, dashboard and API keys.

Tenant pages get their AccessContext from TenantMiddleware (which has already switched the
transaction to the capacity's role and tenant) and read only through selectors and restrict().
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec
from urllib.parse import unquote, urlsplit

from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.module_loading import import_string
from django.views.decorators.http import require_http_methods, require_POST

from tenants.access import AccessContext, may, parse_id, restrict
from tenants.forms import ApiKeyCreateForm, CapacityChoiceForm, EmailAuthenticationForm
from tenants.middleware import SESSION_CAPACITY_KEY, error_page
from tenants.models import ApiKey, Membership, Tenant, User
from tenants.services import api_key_create, api_key_revoke

P = ParamSpec("P")
PAGE_SIZE = 50
NOT_FOUND = "No such page in your current capacity."


# --- Shell plumbing shared by every tenant page (management and clinical views use it too) --------


@dataclass(frozen=True)
class Section:
    """A navigation entry and dashboard card over one model, shown only to capacities that may view it.

    Models and selectors are named by string: the shell composes the apps the way URLconfs do, so
    this module (which management.views imports) never imports clinical code. Each app lists its
    sections in ``<app>/sections.py``; settings.TENANT_SECTIONS names those lists in nav order.
    """

    label: str
    url_name: str
    model: str
    selector: str
    group: str = ""

    def model_class(self) -> type[Model]:
        return apps.get_model(self.model)

    def count(self, ctx: AccessContext) -> int:
        selector: Callable[[AccessContext], QuerySet[Any]] = import_string(self.selector)
        return selector(ctx).count()


@functools.cache
def all_sections() -> tuple[Section, ...]:
    return tuple(s for path in settings.TENANT_SECTIONS for s in import_string(path))


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


@dataclass(frozen=True)
class NavGroup:
    """A labelled run of navigation entries (``Section.group``); label "" is shown without a heading."""

    label: str
    items: tuple[NavItem, ...]

    @property
    def active(self) -> bool:
        return any(item.active for item in self.items)


@dataclass(frozen=True)
class Navigation:
    """What base.html draws on the side: groups of entries (iterable, falsy when empty)."""

    groups: tuple[NavGroup, ...]

    def __iter__(self) -> Iterator[NavGroup]:
        return iter(self.groups)

    def __bool__(self) -> bool:
        return bool(self.groups)

    @property
    def open_all(self) -> bool:
        """No section is active (dashboard, API keys): show every group expanded."""
        return not any(group.active for group in self.groups if group.label)


UNGROUPED = "More"


def visible_sections(ctx: AccessContext) -> list[Section]:
    # may() is decided from the capacity alone, before any SQL: a business capacity never
    # queries the clinical schema (PostgreSQL would refuse it anyway).
    return [s for s in all_sections() if may(ctx, s.model_class(), "view")]


def grouped_sections(sections: list[Section]) -> list[tuple[str, list[Section]]]:
    """Sections by ``group``: groups in order of first appearance (settings order), sections in order."""
    groups: dict[str, list[Section]] = {}
    for section in sections:
        groups.setdefault(section.group or UNGROUPED, []).append(section)
    return list(groups.items())


def nav_items(request: HttpRequest, ctx: AccessContext) -> Navigation:
    """The side navigation: the dashboard, the visible sections by group, then the account's API keys."""
    slug = ctx.tenant.slug
    dashboard_url = reverse("dashboard", kwargs={"tenant_slug": slug})
    keys_url = reverse("api-keys", kwargs={"tenant_slug": slug})
    grouped = [
        (label, [(s.label, reverse(s.url_name, kwargs={"tenant_slug": slug})) for s in sections])
        for label, sections in grouped_sections(visible_sections(ctx))
    ]
    layout = [("", [("Dashboard", dashboard_url)]), *grouped, ("", [("API keys", keys_url)])]
    # One entry is active: the longest URL the path starts with (the dashboard only on itself).
    urls = [url for _, entries in layout for _, url in entries if url != dashboard_url]
    matches = [url for url in urls if request.path.startswith(url)]
    active = dashboard_url if request.path == dashboard_url else max(matches, key=len, default=None)
    return Navigation(
        tuple(
            NavGroup(label, tuple(NavItem(name, url, url == active) for name, url in entries))
            for label, entries in layout
        )
    )


def tenant_page(
    view: Callable[Concatenate[HttpRequest, AccessContext, P], HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """A page inside /t/<slug>/: hands the view the active AccessContext, or answers 404.

    TenantMiddleware has resolved the tenant and capacity (or redirected to the capacity switch);
    the view never sees the slug, so it cannot look anything up outside the active context.
    """

    @functools.wraps(view)
    def wrapper(
        request: HttpRequest, tenant_slug: str, *args: P.args, **kwargs: P.kwargs
    ) -> HttpResponseBase:
        ctx: AccessContext | None = getattr(request, "access", None)
        if ctx is None or ctx.tenant.slug != tenant_slug:
            raise Http404(NOT_FOUND)
        # Set before the view runs so that error pages raised from it still show the navigation.
        request.nav = nav_items(request, ctx)  # type: ignore[attr-defined]
        return view(request, ctx, *args, **kwargs)

    return login_required(wrapper)


def page_of(
    model: type[Model],
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Mark a tenant page as showing `model` (tests aim the attack matrix at it by this mark) and
    answer 404, before the view runs any query, to a capacity that may not view that model.

    Use under ``@tenant_page``: ``@tenant_page`` then ``@page_of(Model)`` then the view.
    """

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, ctx: AccessContext, *args: Any, **kwargs: Any) -> HttpResponseBase:
            require_section(ctx, model)
            return view(request, ctx, *args, **kwargs)

        wrapper.page_model = model  # type: ignore[attr-defined]
        return wrapper

    return decorate


def require_section(ctx: AccessContext, model: type[Model]) -> None:
    """Wrong capacity for a page answers 404, the same as an absent page."""
    if not may(ctx, model, "view"):
        raise Http404(NOT_FOUND)


def paginate(request: HttpRequest, qs: QuerySet[Any]) -> Page[Any]:
    # get_page() turns malformed or out-of-range page numbers into the nearest page, never a 500.
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- Sign-in --------------------------------------------------------------------------------------


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True
    # Logins and failed logins are audit-logged by tenants.signals. A failed sign-in stays a 200:
    # a 4xx would make RequestTransactionMiddleware roll back the login_failed audit entry.


# --- Tenant picker and capacity switch -----------------------------------------------------------


@login_required
def tenant_picker(request: HttpRequest) -> HttpResponse:
    """Every tenant the user holds a current capacity in (RLS lets the gateway role see only these)."""
    user = request.user
    assert isinstance(user, User)  # login_required
    now = timezone.now()
    memberships = [
        m
        for m in Membership.objects.filter(user=user, is_active=True)
        .select_related("tenant")
        .order_by("tenant__name", "tenant__slug", "capacity")
        if m.is_current(now)
    ]
    groups = [(tenant, list(ms)) for tenant, ms in itertools.groupby(memberships, key=lambda m: m.tenant)]
    return render(request, "tenants/picker.html", {"groups": groups})


def safe_next(request: HttpRequest, tenant: Tenant) -> str | None:
    """?next= only when it is a same-host path inside this tenant's area."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(target)
    path = unquote(parts.path)
    # Browsers resolve dot segments (also percent-encoded ones): /t/a/../b/ must not escape /t/a/.
    if parts.scheme or parts.netloc or "\\" in path or {".", ".."} & set(path.split("/")):
        return None
    return target if path.startswith(f"/t/{tenant.slug}/") else None


@login_required
@require_http_methods(["GET", "POST"])
def capacity_switch(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """Choose the capacity to act in for this tenant; stored per tenant in the session."""
    tenant: Tenant | None = getattr(request, "tenant", None)
    memberships: list[Membership] = getattr(request, "memberships", [])
    if tenant is None or tenant.slug != tenant_slug or not memberships:
        raise Http404(NOT_FOUND)
    ctx: AccessContext | None = getattr(request, "access", None)
    if ctx is not None:
        request.nav = nav_items(request, ctx)  # type: ignore[attr-defined]
    next_url = safe_next(request, tenant)
    if request.method == "POST":
        form = CapacityChoiceForm(request.POST, memberships=memberships)
        if not form.is_valid():
            message = next(iter(form.errors.get("membership", ["Choose a capacity."])))
            return error_page(request, 400, str(message))
        membership = form.chosen()
        request.session[SESSION_CAPACITY_KEY.format(tenant_id=tenant.pk)] = str(membership.pk)
        target = next_url or reverse("dashboard", kwargs={"tenant_slug": tenant.slug})
        if is_htmx(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)
    return render(
        request,
        "tenants/capacity.html",
        {"choices": memberships, "current": ctx.membership if ctx else None, "next": next_url or ""},
    )


# --- Dashboard ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    label: str
    count: int
    url: str


@tenant_page
def dashboard(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    """A card per visible section with its row count, grouped like the navigation (one COUNT each)."""
    slug = ctx.tenant.slug
    groups = [
        (
            label,
            [
                Card(s.label, s.count(ctx), reverse(s.url_name, kwargs={"tenant_slug": slug}))
                for s in sections
            ],
        )
        for label, sections in grouped_sections(visible_sections(ctx))
    ]
    cards = [card for _, group in groups for card in group]
    return render(
        request,
        "tenants/dashboard.html",
        {"card_groups": groups, "cards": cards, "spas": location_dashboards(ctx)},
    )


LOCATION_DASHBOARDS_SHOWN = 12


def location_dashboards(ctx: AccessContext) -> list[tuple[str, str]]:
    """(name, dashboard URL) of the first locations the capacity may view: one query, or none at all.

    The model is looked up by name, as for sections: the shell never imports an app's code.
    """
    location = apps.get_model("management.Location")
    if not may(ctx, location, "view"):
        return []
    shown = restrict(location._default_manager.order_by("name"), ctx)[:LOCATION_DASHBOARDS_SHOWN]
    return [
        (str(loc), reverse("location-dashboard", kwargs={"tenant_slug": ctx.tenant.slug, "pk": loc.pk}))
        for loc in shown
    ]


# --- API keys -------------------------------------------------------------------------------------

READ_ONLY_KEYS = "Your capacity is read-only: it cannot create or revoke API keys."


def own_api_keys(ctx: AccessContext) -> QuerySet[ApiKey]:
    """Keys act as the membership that created them, so a person manages only their own."""
    return ApiKey.objects.filter(tenant=ctx.tenant, membership=ctx.membership)


@tenant_page
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    form = ApiKeyCreateForm()
    created: tuple[ApiKey, str] | None = None
    status = 200
    if request.method == "POST":
        if ctx.capacity.read_only:
            return error_page(request, 403, READ_ONLY_KEYS)
        form = ApiKeyCreateForm(request.POST)
        if form.is_valid():
            try:
                created = api_key_create(ctx=ctx, name=form.cleaned_data["name"])
                form = ApiKeyCreateForm()
                status = 201
            except ValidationError as exc:
                form.add_error(None, exc)
        if created is None:
            status = 400
    response = render(
        request,
        "tenants/api_keys.html",
        {
            "form": form,
            "keys": own_api_keys(ctx),
            "new_key": created[0] if created else None,
            "raw_key": created[1] if created else None,
            "read_only": ctx.capacity.read_only,
        },
        status=status,
    )
    if created:
        response["Cache-Control"] = "no-store"  # the raw key is shown once and must not be cached
    return response


@tenant_page
@require_POST
def api_key_revoke_view(request: HttpRequest, ctx: AccessContext, key_id: str) -> HttpResponse:
    # A read-only capacity holds no keys: every id answers like an absent one (as in the API).
    key = None if ctx.capacity.read_only else own_api_keys(ctx).filter(pk=parse_id(key_id)).first()
    if key is None:
        raise Http404("No such API key.")
    api_key_revoke(key=key)
    if is_htmx(request):
        return render(request, "tenants/_api_key_row.html", {"key": key, "read_only": False})
    messages.success(request, f"API key “{key.name}” revoked.")
    return redirect("api-keys", tenant_slug=ctx.tenant.slug)
