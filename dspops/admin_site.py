"""dspops's admin site: the index page is the operator's dashboard, its task buttons the registry's."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

# The dashboard, the digest views, the task registry (every app's tasks) and django-q2's task module are imported
# where they are used, not here: the admin site is imported by every process's django.setup() (the admin's
# autodiscover), and a management command never draws the dashboard (start-up cost, issue 14).


@require_POST
def run_task(request, name: str):
    """Queue one of the registry's button tasks with django-q2 and come back to the dashboard to watch it."""
    from django_q.tasks import async_task

    from dspops import tasks

    if not request.user.has_perm("sleeves.run_tasks"):
        raise PermissionDenied
    task = tasks.BUTTONS.get(name)
    if task is None:
        raise Http404(f"No dashboard task called {name!r}.")
    # A person's action: on a closed day the task acts on the last session and says so (DECISIONS.md 8).
    task_id = async_task(task.func, by_person=True, task_name=f"dashboard: {task.button}",
                         sync=getattr(settings, "DSPOPS_TASKS_SYNC", False))
    messages.info(request, f"Queued: {task.button}.")
    return HttpResponseRedirect(f"{reverse('admin:index')}?task={task_id}")


class DspopsAdminSite(admin.AdminSite):
    site_header = "dspops: DSP-100K operations"
    site_title = "dspops"
    index_title = "Dashboard"
    index_template = "admin/dashboard.html"

    def index(self, request, extra_context=None):
        from dspops import tasks
        from dspops.dashboard import dashboard_context

        context = {**dashboard_context(request), "tasks": tasks.buttons()}
        return super().index(request, {**context, **(extra_context or {})})

    def get_urls(self):
        from digests import views

        extra = [
            path("dashboard/run/<str:name>/", self.admin_view(run_task), name="dashboard_run_task"),
            path("dashboard/chart/<str:name>.svg", self.admin_view(views.chart, cacheable=True), name="dashboard_chart"),
            path("dashboard/weekly-review/", self.admin_view(views.weekly_review), name="dashboard_weekly_review"),
            path("dashboard/alert/<int:object_id>/acknowledge/", self.admin_view(views.acknowledge_alert),
                 name="dashboard_acknowledge_alert"),
            path("dashboard/alert/<int:object_id>/resolve/", self.admin_view(views.resolve_alert),
                 name="dashboard_resolve_alert"),
        ]
        return extra + super().get_urls()
