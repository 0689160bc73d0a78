"""PC clinical pages, for clinical capacities only; every patient record shown is audit-logged.

One module per area: ``charts`` (charts and what is in them), ``protocols`` (protocols, signing and
the scope table), ``decisions`` (physician decisions).
"""
