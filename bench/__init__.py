"""Load benchmark of the web app (``bench/load.py``); bench-only settings, URLs and views.

Nothing here is imported by the product: the bare endpoint exists only in ``bench.urls``, which only
``bench.settings`` (used by the benchmark's own gunicorn) names as ROOT_URLCONF.
"""
