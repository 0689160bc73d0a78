"""Generic list / detail / create / edit pages over one model (NetBox's generic views, our one path).

An area declares its pages once::

    LEASE_PAGES = ObjectPages(
        model=Lease, name="lease", path="leases",
        list_selector=selectors.lease_list, get_selector=selectors.lease_get,
        columns=[Column("Landlord", "landlord", link=True), Column("Location", "location.name")],
        fields=["location", "landlord", "term_start", "term_end", "monthly_rent"],
        create_service=services.lease_create, update_service=services.lease_update,
    )
    urlpatterns = [*LEASE_PAGES.urls()]

and gets ``lease-list``, ``lease-detail``, ``lease-create`` and ``lease-edit`` under /t/<slug>/:

- every page is a ``tenant_page`` marked ``page_of(model)``: a capacity that may not view the model gets
  404 before any query, and the attack matrix knows what the page shows;
- reads go through the area's selectors (``restrict``/``get_for_action``), edits fetch the object with
  action "change", so an object outside the capacity's write scope is a 404 like an absent one;
- forms only collect input: choices of related objects are restricted to what the capacity may view,
  and the cleaned data go to the area's service (``service(ctx=ctx, **data)``), which validates with
  the tenant set; its ValidationErrors come back on the form as a 400 and nothing is written;
- after a write the object must still be inside the capacity's scope (NetBox's re-check), else 404
  and the request transaction rolls back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods

from tenants.access import AccessContext, check_still_visible, may, restrict
from tenants.capacities import ADD, CHANGE, VIEW
from tenants.views import page_of, paginate, tenant_page

EMPTY = "—"


class ServiceForm(forms.ModelForm):  # type: ignore[type-arg,unused-ignore]
    """A ModelForm that collects and validates input; the area's service writes.

    Related-object choices are restricted to what ``ctx`` may view (another tenant's or an unpermitted
    object is "not one of the available choices"). Model validation is left to the service, which
    runs it with the tenant set (here the instance has no tenant yet).
    """

    def __init__(self, *args: Any, ctx: AccessContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx = ctx
        for form_field in self.fields.values():
            if isinstance(form_field, forms.ModelChoiceField):
                qs = form_field.queryset
                if qs is not None and getattr(qs.model, "access", None) is not None:
                    form_field.queryset = restrict(qs, ctx, VIEW)

    def _post_clean(self) -> None:
        """Skip ModelForm's instance validation: the service validates (with the tenant) and writes."""


def html5_widgets(db_field: models.Field[Any, Any], **kwargs: Any) -> forms.Field | None:
    """Date and time pickers instead of free text (ModelForm's formfield_callback)."""
    if isinstance(db_field, models.DateTimeField):
        kwargs.setdefault("widget", forms.DateTimeInput(attrs={"type": "datetime-local"}))
    elif isinstance(db_field, models.DateField):
        kwargs.setdefault("widget", forms.DateInput(attrs={"type": "date"}))
    return db_field.formfield(**kwargs)


@dataclass(frozen=True)
class Column:
    """One value shown for an object: ``attr`` is a dotted path (``location.pc.legal_name``)."""

    label: str
    attr: str
    link: bool = False  # link the cell to the object's detail page


def resolve(obj: Any, dotted: str) -> Any:
    value = obj
    for part in dotted.split("."):
        if value is None:
            return None
        display = getattr(value, f"get_{part}_display", None)  # choices: their label
        value = display() if callable(display) else getattr(value, part)
        if callable(value) and not isinstance(value, models.Model):
            value = value()
    return value


def display(value: Any) -> str:
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or EMPTY
    return str(value)


@dataclass
class ObjectPages:
    model: type[models.Model]
    name: str  # URL names: <name>-list, <name>-detail, <name>-create, <name>-edit
    path: str  # URL segment under /t/<slug>/
    list_selector: Callable[[AccessContext], models.QuerySet[Any]]
    get_selector: Callable[..., Any]  # (ctx, pk, action) -> object or Http404
    columns: Sequence[Column]
    fields: Sequence[str] = ()  # form fields; empty: no create/edit pages
    create_service: Callable[..., Any] | None = None  # service(ctx=ctx, **cleaned_data)
    update_service: Callable[..., Any] | None = None  # service(ctx=ctx, <update_kwarg>=obj, **cleaned_data)
    update_kwarg: str = ""  # defaults to name with dashes as underscores
    detail_fields: Sequence[Column] = ()  # defaults to columns
    form_class: type[ServiceForm] | None = None
    filterset_class: Any = None  # a django_filters.FilterSet over the list
    list_template: str = "pages/list.html"
    detail_template: str = "pages/detail.html"
    form_template: str = "pages/form.html"
    # Extra template context for the detail page (related tables and the like).
    detail_context: Callable[[AccessContext, Any], dict[str, Any]] | None = None
    title: str = ""
    help_text: str = ""
    _views: dict[str, Callable[..., HttpResponseBase]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.update_kwarg = self.update_kwarg or self.name.replace("-", "_")
        self.title = self.title or str(self.model._meta.verbose_name_plural).capitalize()

    # --- URLs -----------------------------------------------------------------------------------

    def urls(self) -> list[URLPattern]:
        patterns = [path(f"{self.path}/", self.list_view(), name=f"{self.name}-list")]
        if self.fields and self.create_service is not None:
            patterns.append(path(f"{self.path}/new/", self.create_view(), name=f"{self.name}-create"))
        patterns.append(path(f"{self.path}/<str:pk>/", self.detail_view(), name=f"{self.name}-detail"))
        if self.fields and self.update_service is not None:
            patterns.append(path(f"{self.path}/<str:pk>/edit/", self.edit_view(), name=f"{self.name}-edit"))
        return patterns

    def url(self, ctx: AccessContext, kind: str, obj: Any = None) -> str:
        kwargs: dict[str, Any] = {"tenant_slug": ctx.tenant.slug}
        if obj is not None:
            kwargs["pk"] = obj.pk
        return reverse(f"{self.name}-{kind}", kwargs=kwargs)

    # --- what a capacity may do here -------------------------------------------------------------

    def can_create(self, ctx: AccessContext) -> bool:
        return bool(self.fields) and self.create_service is not None and may(ctx, self.model, ADD)

    def can_edit(self, ctx: AccessContext, obj: Any) -> bool:
        if not (self.fields and self.update_service is not None and may(ctx, self.model, CHANGE)):
            return False
        return restrict(self.model._default_manager.filter(pk=obj.pk), ctx, CHANGE).exists()

    # --- views ----------------------------------------------------------------------------------

    def list_view(self) -> Callable[..., HttpResponseBase]:
        @tenant_page
        @page_of(self.model)
        def view(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
            qs = self.list_selector(ctx)
            filters = None
            if self.filterset_class is not None:
                filters = self.filterset_class(request.GET or None, queryset=qs)
                qs = qs.none() if filters.is_bound and not filters.is_valid() else filters.qs
            page = paginate(request, qs)
            rows = [(obj, self.url(ctx, "detail", obj), self.cells(obj, self.columns)) for obj in page]
            return render(
                request,
                self.list_template,
                {
                    "pages": self,
                    "page": page,
                    "rows": rows,
                    "columns": self.columns,
                    "filters": filters,
                    "create_url": self.url(ctx, "create") if self.can_create(ctx) else None,
                    "title": self.title,
                },
            )

        view.__name__ = view.__qualname__ = f"{self.name.replace('-', '_')}_list"
        return view

    def detail_view(self) -> Callable[..., HttpResponseBase]:
        @tenant_page
        @page_of(self.model)
        def view(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
            obj = self.get_selector(ctx, pk, VIEW)
            context = {
                "pages": self,
                "object": obj,
                "fields": self.cells(obj, self.detail_fields or self.columns, labels=True),
                "edit_url": self.url(ctx, "edit", obj) if self.can_edit(ctx, obj) else None,
                "list_url": self.url(ctx, "list"),
                "title": self.title,
            }
            if self.detail_context is not None:
                context.update(self.detail_context(ctx, obj))
            return render(request, self.detail_template, context)

        view.__name__ = view.__qualname__ = f"{self.name.replace('-', '_')}_detail"
        return view

    def create_view(self) -> Callable[..., HttpResponseBase]:
        @tenant_page
        @page_of(self.model)
        @require_http_methods(["GET", "POST"])
        def view(request: HttpRequest, ctx: AccessContext) -> HttpResponseBase:
            if not self.can_create(ctx):
                raise Http404("No such page in your current capacity.")
            form = self.make_form(ctx, request.POST or None, initial=request.GET.dict() or None)
            if request.method == "POST" and form.is_valid():
                assert self.create_service is not None
                try:
                    obj = self.create_service(ctx=ctx, **form.cleaned_data)
                except ValidationError as exc:
                    add_service_errors(form, exc)
                else:
                    check_still_visible(obj, ctx, ADD)
                    return redirect(self.url(ctx, "detail", obj))
            return self.render_form(request, ctx, form, obj=None)

        view.__name__ = view.__qualname__ = f"{self.name.replace('-', '_')}_create"
        return view

    def edit_view(self) -> Callable[..., HttpResponseBase]:
        @tenant_page
        @page_of(self.model)
        @require_http_methods(["GET", "POST"])
        def view(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponseBase:
            obj = self.get_selector(ctx, pk, CHANGE)
            if not self.can_edit(ctx, obj):
                raise Http404("No such page in your current capacity.")
            form = self.make_form(ctx, request.POST or None, instance=obj)
            if request.method == "POST" and form.is_valid():
                assert self.update_service is not None
                try:
                    obj = self.update_service(ctx=ctx, **{self.update_kwarg: obj}, **form.cleaned_data)
                except ValidationError as exc:
                    add_service_errors(form, exc)
                else:
                    check_still_visible(obj, ctx, CHANGE)
                    return redirect(self.url(ctx, "detail", obj))
            return self.render_form(request, ctx, form, obj=obj)

        view.__name__ = view.__qualname__ = f"{self.name.replace('-', '_')}_edit"
        return view

    # --- pieces -----------------------------------------------------------------------------------

    def make_form(self, ctx: AccessContext, data: Any, **kwargs: Any) -> ServiceForm:
        form_class: type[ServiceForm] = self.form_class or cast(
            type[ServiceForm],
            forms.modelform_factory(
                self.model, form=ServiceForm, fields=list(self.fields), formfield_callback=html5_widgets
            ),
        )
        return form_class(data, ctx=ctx, **kwargs)

    def render_form(
        self, request: HttpRequest, ctx: AccessContext, form: ServiceForm, obj: Any
    ) -> HttpResponse:
        # A refused submission is a 400 (the request transaction rolls back whatever a service began).
        status = 400 if request.method == "POST" else 200
        return render(
            request,
            self.form_template,
            {
                "pages": self,
                "form": form,
                "object": obj,
                "title": self.title,
                "list_url": self.url(ctx, "list"),
                "cancel_url": self.url(ctx, "detail", obj) if obj is not None else self.url(ctx, "list"),
            },
            status=status,
        )

    def cells(self, obj: Any, columns: Sequence[Column], labels: bool = False) -> list[Any]:
        if labels:
            return [(c.label, display(resolve(obj, c.attr))) for c in columns]
        return [(display(resolve(obj, c.attr)), c.link) for c in columns]


def add_service_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """A service's ValidationError on the form: per field where the field is on the form, else on top."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)
