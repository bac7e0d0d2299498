"""What a visitor sees when a request cannot be served: styled pages, never a traceback.

- DatabaseUnavailableMiddleware: a write that finds the SQLite database locked by another
  process for longer than its busy timeout, or a database file that cannot be written, becomes
  a 503 page that says so and that nothing was saved.
- permission_denied / page_not_found / server_error: the 403, 404 and 500 handlers (urls.py),
  in the admin's look, with links back to the dashboard and the login page.
- lockout_response: the page django-axes shows after too many failed logins, saying when to
  try again.
- client_ip: the address django-axes keys a lockout on.
- DropPermissionDeniedTraceback: a logging filter; a 403 is logged as one line, not a traceback.
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from django.template import loader
from django.utils import timezone

log = logging.getLogger(__name__)

BUSY = "busy"
READ_ONLY = "read_only"


def database_problem(exc: BaseException | None) -> str | None:
    """BUSY or READ_ONLY when exc (or what caused it) is one of the two SQLite failures an operator
    can do something about; None for anything else."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DatabaseError) or type(exc).__module__ == "sqlite3":
            text = str(exc).lower()
            if "database is locked" in text or "database table is locked" in text:
                return BUSY
            if "readonly database" in text or "read-only database" in text:
                return READ_ONLY
        exc = exc.__cause__ or exc.__context__
    return None


def _site_context() -> dict:
    """The admin's header and title without touching the database (the database may be the problem)."""
    # Imported here, not at the top: LOGGING imports this module (the filter below) before the apps
    # are ready, and the admin cannot be imported that early.
    from django.contrib import admin

    return {"site_header": admin.site.site_header, "site_title": admin.site.site_title,
            "site_url": admin.site.site_url}


def database_unavailable_response(problem: str) -> HttpResponse:
    context = {**_site_context(), "problem": problem,
               "timeout": settings.DATABASES["default"].get("OPTIONS", {}).get("timeout")}
    response = HttpResponse(loader.render_to_string("503.html", context), status=503)
    if problem == BUSY:
        response["Retry-After"] = "10"
    return response


class DatabaseUnavailableMiddleware:
    """Turns "database is locked" and "attempt to write a readonly database" into a 503 page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        problem = database_problem(exception)
        if problem is None:
            return None
        log.warning("%s %s: nothing saved, the database is %s (%s)", request.method, request.path,
                    "busy" if problem == BUSY else "read-only", exception)
        return database_unavailable_response(problem)


# --- the error handlers (urls.handler403 / handler404 / handler500) ------------------------------

def _render_with_admin_context(request, template: str, status: int, extra: dict) -> HttpResponse:
    from django.contrib import admin  # not at the top: see _site_context

    context = {**admin.site.each_context(request), **extra}
    return HttpResponse(loader.render_to_string(template, context, request=request), status=status)


def permission_denied(request, exception=None):
    return _render_with_admin_context(request, "403.html", 403, {"title": "Not allowed"})


def page_not_found(request, exception=None):
    return _render_with_admin_context(request, "404.html", 404,
                                      {"title": "Page not found", "request_path": request.path})


def server_error(request):
    """A 500 page rendered without the request: no context processor, no query, nothing that can
    fail again. An unhandled database-busy or read-only error still gets its own 503 page."""
    problem = database_problem(sys.exc_info()[1])
    if problem is not None:
        return database_unavailable_response(problem)
    return HttpResponse(loader.render_to_string("500.html", {**_site_context(), "title": "Server error"}),
                        status=500)


# --- django-axes -----------------------------------------------------------------------------------

def lockout_response(request, original_response=None, credentials=None):
    """Too many failed logins for this username from this address: say until when (each failed
    attempt during the lockout starts the cool-off again, so "from now" is exact)."""
    cool_off = settings.AXES_COOLOFF_TIME
    if not isinstance(cool_off, timedelta):
        cool_off = timedelta(hours=float(cool_off))
    until = timezone.localtime(timezone.now() + cool_off)
    minutes = int(cool_off.total_seconds() // 60)
    username = (credentials or {}).get(settings.AXES_USERNAME_FORM_FIELD) or request.POST.get("username", "")
    context = {"title": "Login locked", "until": until, "minutes": minutes, "username": username,
               "failure_limit": settings.AXES_FAILURE_LIMIT}
    return _render_with_admin_context(request, "lockout.html", settings.AXES_HTTP_RESPONSE_CODE, context)


def client_ip(request) -> str | None:
    """The peer's address. Behind the TLS proxy (BEHIND_TLS_PROXY) every request comes from the proxy,
    so the address is the last one in X-Forwarded-For: the one the proxy itself appended. Any
    address before it came from the client and can be forged."""
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR")


# --- logging ---------------------------------------------------------------------------------------

class DropPermissionDeniedTraceback(logging.Filter):
    """A 403 is an expected answer, not a failure: keep its one-line warning, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403 and record.exc_info:
            record.exc_info = None
            record.exc_text = None
        return True
