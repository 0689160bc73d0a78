"""MSO business pages, one module per area (``management/views/<area>.py``), each built with the page
toolkit (tenants.pages) and read through management.selectors only."""
