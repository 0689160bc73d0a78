"""Compliance pages under /t/<slug>/compliance/, one module per area: findings (``findings.py``), audit
runs with their live progress (``runs.py``), the rule catalogue and its settings (``rules.py``), and
the dashboard and PDF reports (``reports.py``). Reads go through ``compliance.selectors`` (the
permission layer), writes through ``compliance.services``; ``_support.py`` holds what the pages and the
API share."""
