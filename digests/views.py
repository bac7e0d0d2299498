"""Dashboard endpoints: queue a task, draw a chart, show the weekly review. Thin: services do the work."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.cache import never_cache

from digests.charts import CHARTS
from digests.dashboard import TASKS


def run_task(request, name: str):
    """Queue one of the dashboard's tasks with django-q2 and come back to the dashboard to watch it."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not request.user.has_perm("sleeves.run_tasks"):
        raise PermissionDenied
    if name not in TASKS:
        raise Http404(f"No dashboard task called {name!r}.")
    from django_q.tasks import async_task

    label, func = TASKS[name]
    # A person's action: on a closed day the task acts on the last session and says so (DECISIONS.md 8).
    task_id = async_task(func, by_person=True, task_name=f"dashboard: {label}",
                         sync=getattr(settings, "DSPOPS_TASKS_SYNC", False))
    messages.info(request, f"Queued: {label}.")
    return HttpResponseRedirect(f"{reverse('admin:index')}?task={task_id}")


@never_cache
def chart(request, name: str):
    if name not in CHARTS:
        raise Http404(f"No chart called {name!r}.")
    return HttpResponse(CHARTS[name](), content_type="image/svg+xml")


def weekly_review(request):
    """The Friday review of the week to date. Reading it stores nothing; the Friday task stores its copy."""
    from django.contrib import admin
    from django.template.response import TemplateResponse

    from digests.render import render_weekly_review
    from digests.services import build_weekly_review
    from dspops.core import calendars, clock
    from dspops.core.sanitize import markdown_to_safe_html

    week_ending = calendars.session_on_or_before(clock.trading_date())
    text = render_weekly_review(build_weekly_review(week_ending=week_ending))
    return TemplateResponse(request, "admin/weekly_review.html", {
        **admin.site.each_context(request), "title": f"Weekly review, week ending {week_ending}",
        # The review lists the week's alerts, whose text came from files and the broker: sanitized.
        "review_html": markdown_to_safe_html(text),
    })
