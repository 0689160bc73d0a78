"""Authentication events go to the audit log (tenant-less: no tenant is chosen yet at login)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from tenants import audit


def _ip(request: Any) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in, dispatch_uid="audit_login")
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit.record(
        None, "login", object_type="auth.user", object_id=str(user.pk), actor=user, client_ip=_ip(request)
    )


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit.record(
            None,
            "logout",
            object_type="auth.user",
            object_id=str(user.pk),
            actor=user,
            client_ip=_ip(request),
        )


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # The attempted identifier is kept (it is what an investigator needs); the password never is.
    audit.record(
        None,
        "login_failed",
        object_type="auth.user",
        detail={"email": str(credentials.get("username") or credentials.get("email") or "")[:254]},
        client_ip=_ip(request),
    )
