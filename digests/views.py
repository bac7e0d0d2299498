"""Dashboard pages of the digests floor: draw a chart, show the weekly review. Thin: services do the work.

The task buttons are the site's (dspops.admin_site.run_task, on the site's task registry).
"""

from django.contrib import admin
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache

from digests.charts import CHARTS
from digests.render import render_weekly_review
from digests.services import build_weekly_review
from dspops.core import calendars, clock


@never_cache
def chart(request, name: str):
    if name not in CHARTS:
        raise Http404(f"No chart called {name!r}.")
    return HttpResponse(CHARTS[name](), content_type="image/svg+xml")


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
