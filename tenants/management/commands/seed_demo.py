"""`manage.py seed_demo`: create the demo tenant (once) and print its logins."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tenants.demo import DELIBERATE_PROBLEMS, seed_demo


class Command(BaseCommand):
    help = "Create the demo tenant 'Golden Coast Aesthetics MSO' unless it exists, and print its logins."

    def handle(self, *args: Any, **options: Any) -> None:
        result = seed_demo()
        state = "created" if result.created else "already present, left as it is"
        self.stdout.write(f'Demo tenant "{result.tenant.name}" (/t/{result.tenant.slug}/): {state}.')
        self.stdout.write(f"Demo logins (demo data only), password for each: {result.password}")
        width = max(len(login.email) for login in result.logins)
        for login in result.logins:
            self.stdout.write(f"  {login.email:<{width}}  {login.full_name}: {'; '.join(login.capacities)}")
        if any(len(login.capacities) > 1 for login in result.logins):
            self.stdout.write("  (someone with two capacities picks one after signing in, and can switch)")
        rules = ", ".join(dict.fromkeys(p.rule for p in DELIBERATE_PROBLEMS))
        self.stdout.write(
            f"The demo holds {len(DELIBERATE_PROBLEMS)} deliberate compliance problems for the audit engine "
            f"({rules}); tenants/demo.py lists them."
        )
