"""Dashboard pages of the digests floor: draw a chart, show the weekly review, acknowledge or resolve an alert.
Thin: services do the work.

The task buttons are the site's (dspops.admin_site.run_task, on the site's task registry).
"""

import re

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from digests import charts
from digests.render import render_weekly_review
from digests.services import build_weekly_review
from dspops.core import alerts, calendars, clock
from dspops.core.models import Alert

# The largest key a BigAutoField holds: a larger number in the address names no alert (never a server error).
_MAX_KEY = 2**63 - 1


# A version as digests.charts writes it: the chart's name, a dash, 24 hex digits.
_VERSION = re.compile(r"[a-z]+-[0-9a-f]{24}\Z")
# An address naming a version names one picture for ever (digests.templatetags.dashboard_charts).
_FOR_EVER = 365 * 24 * 3600


def chart(request, name: str):
    """One dashboard chart as SVG, drawn once per change of its data (digests.charts keeps the copies).

    The dashboard's address names the data version (?v=): a kept copy of it is answered at once, with no
    query for the data, and may be kept by the browser for ever (when the admin site registers this view
    cacheable=True; else admin_view's never_cache adds no-store). Otherwise (no version, an old one, or no copy) the
    current version is worked out and its copy answered, drawn first if missing; its ETag is the version, so
    a browser revalidates with If-None-Match and gets a 304 without a drawing or a body, and no-cache makes it
    ask each time, so a new log row shows at the next page view.
    """
    if name not in charts.CHARTS:
        raise Http404(f"No chart called {name!r}.")
    asked = request.GET.get("v", "")
    if not (asked.startswith(f"{name}-") and _VERSION.match(asked)):
        asked = ""
    kept = charts.cached(asked) if asked else None
    latest = None if kept is not None else charts.current(name)
    version = asked if latest is None else latest.version
    etag = f'"{version}"'
    response = get_conditional_response(request, etag=etag)
    if response is None:
        body = kept if latest is None else charts.svg(name, latest)
        response = HttpResponse(body, content_type="image/svg+xml")
    response["ETag"] = etag
    if version == asked:
        patch_cache_control(response, private=True, max_age=_FOR_EVER, immutable=True)
    else:
        patch_cache_control(response, private=True, no_cache=True)
    return response


def weekly_review(request):
    """The Friday review of the week to date. Reading it stores nothing; the Friday task stores its copy."""
    # Lazy for start-up cost: the admin site imports this module in every process, only this page renders markdown.
    from dspops.core.sanitize import markdown_to_safe_html

    week_ending = calendars.session_on_or_before(clock.trading_date())
    text = render_weekly_review(build_weekly_review(week_ending=week_ending))
    return TemplateResponse(request, "admin/weekly_review.html", {
        **admin.site.each_context(request), "title": f"Weekly review, week ending {week_ending}",
        # The review lists the week's alerts, whose text came from files and the broker: sanitized.
        "review_html": markdown_to_safe_html(text),
    })


def _back(request) -> HttpResponseRedirect:
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = reverse("admin:index")
    return HttpResponseRedirect(back)


def _alert_to_change(request, object_id: int) -> Alert:
    if not request.user.has_perm("dspops.change_alert"):
        raise PermissionDenied
    alert = Alert.objects.filter(pk=object_id).first() if object_id <= _MAX_KEY else None
    if alert is None:
        raise Http404(f"No alert #{object_id}.")
    return alert


@require_POST
def resolve_alert(request, object_id: int):
    """Resolve an alert an Operator resolves by hand (the registry says which: legacy order records) and go back."""
    alert = _alert_to_change(request, object_id)
    title = alerts.title_of(alert)
    try:
        resolved = alerts.resolve_by_operator(alert=alert, user=request.user)
    except ValueError as exc:
        messages.error(request, f"Not resolved: {exc}")
        return _back(request)
    if resolved:
        LogEntry.objects.log_actions(user_id=request.user.pk, queryset=[alert], action_flag=CHANGE,
                                     change_message="Resolved by hand", single_object=True)
        messages.success(request, f"Resolved: {title} ({alert.subject or alert.code}).")
    else:
        messages.info(request, f"{title} ({alert.subject or alert.code}) is already resolved.")
    return _back(request)


@require_POST
def acknowledge_alert(request, object_id: int):
    """Acknowledge one open alert (Operator) and go back where the button was: the dashboard or the alert's page.

    Acknowledged is not resolved: the alert stays listed, marked and counted apart until its rule resolves it.
    """
    alert = _alert_to_change(request, object_id)
    title = alerts.title_of(alert)
    if alerts.acknowledge_alert(alert=alert, user=request.user):
        LogEntry.objects.log_actions(user_id=request.user.pk, queryset=[alert], action_flag=CHANGE,
                                     change_message="Acknowledged", single_object=True)
        messages.success(request, f"Acknowledged: {title} ({alert.subject or alert.code}). It stays listed, marked "
                                  "acknowledged, until its cause is gone.")
    elif alert.resolved_at is not None:
        messages.info(request, f"{title} ({alert.subject or alert.code}) is already resolved: nothing to acknowledge.")
    else:
        messages.info(request, f"{title} ({alert.subject or alert.code}) was already "
                               f"{alerts.acknowledged_text(alert)}.")
    return _back(request)
