"""Compliance pages, mounted under /t/<slug>/ by tenants.urls: /t/<slug>/compliance/…

Ids are strings so a malformed id reaches the permission layer and gets its 404, not a resolver quirk.
"""

from django.urls import URLPattern

from compliance.views import findings, reports, rules, runs

urlpatterns: list[URLPattern] = [
    *findings.urlpatterns,
    *runs.urlpatterns,
    *rules.urlpatterns,
    *reports.urlpatterns,
]
