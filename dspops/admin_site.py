"""dspops's admin site: the index page is the operator's dashboard, its task buttons the registry's."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST, require_safe

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


# The internal record tables: rows the book's machinery writes for its own bookkeeping and audit, which an operator
# reads now and then and never works in. The index and the sidebar show them under one "Records" section so the tables
# an operator does work in stand out (issue 15). Keyed by (app label, model name); each keeps its own app's addresses.
RECORDS_LABEL = "records"
RECORDS = (
    ("sleeves", "signalstate"),
    ("rolls", "checkresult"),
    ("rolls", "rolltransition"),
    ("rolls", "rollcheck"),
    ("sleeves", "legacytrade"),
    ("dspops", "quotesnapshot"),
)

# The operator's top navigation, in its order: (label, URL name, the model whose view permission the page needs or
# None when every staff user may open it). A changelist's link also marks its change pages as the current section.
NAV = (
    ("Dashboard", "admin:index", None),
    ("Rolls", "admin:rolls_rollattempt_changelist", ("rolls", "rollattempt")),
    ("Fills", "admin:sleeves_fill_changelist", ("sleeves", "fill")),
    ("Positions", "admin:sleeves_positions", None),
    ("Alerts", "admin:dspops_alert_changelist", ("dspops", "alert")),
    ("Digests", "admin:digests_digest_changelist", ("digests", "digest")),
    ("Weekly review", "admin:dashboard_weekly_review", None),
    ("Settings", "admin:sleeves_sleeveparameter_changelist", ("sleeves", "sleeveparameter")),
)


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

    def each_context(self, request):
        return {**super().each_context(request), "operator_nav": self.operator_nav(request)}

    def operator_nav(self, request) -> list[dict]:
        """The top navigation's links this user may open, the one for the page shown marked.

        Empty for anyone who is not active staff (the login page, a logged-out visitor): the nav is for the
        site's users only. A model's link asks its ModelAdmin, so a Viewer sees the same links as an Operator (view
        is enough) and a user without view permission on a model does not see its link at all.
        """
        user = getattr(request, "user", None)
        if user is None or not (user.is_active and user.is_staff):
            return []
        admins = {(m._meta.app_label, m._meta.model_name): a for m, a in self._registry.items()}
        links = []
        for label, url_name, model in NAV:
            if model is not None:
                model_admin = admins.get(model)
                if model_admin is None or not model_admin.has_view_or_change_permission(request):
                    continue
            try:
                url = reverse(url_name, current_app=self.name)
            except NoReverseMatch:  # a page this site does not serve (a trimmed test site): no link, not a crash
                continue
            here = request.path == url
            within = not here and model is not None and request.path.startswith(url)
            links.append({"label": label, "url": url, "current": "page" if here else "true" if within else ""})
        return links

    def get_app_list(self, request, app_label=None):
        """The apps and their models, with the internal record tables moved into one "Records" section.

        The full list (the index and the sidebar) regroups them; an app's own page (/admin/rolls/) still lists all
        of that app's models, as its breadcrumbs from a record's change list lead there. "records" names the
        section's own page (records_index).
        """
        if app_label == RECORDS_LABEL:
            section = self._records_section(super().get_app_list(request))
            return [section] if section else []
        if app_label is not None:
            return super().get_app_list(request, app_label)
        apps = super().get_app_list(request)
        section = self._records_section(apps)
        if section is None:
            return apps
        kept = []
        for app in apps:
            models = [m for m in app["models"] if (app["app_label"], m["object_name"].lower()) not in RECORDS]
            if models:
                kept.append({**app, "models": models})
        return kept + [section]

    def _records_section(self, apps: list[dict]) -> dict | None:
        """The "Records" app entry built from the models of `apps` named in RECORDS, in RECORDS' order; None when
        the user may see none of them."""
        found = {(app["app_label"], m["object_name"].lower()): m for app in apps for m in app["models"]}
        models = [found[key] for key in RECORDS if key in found]
        if not models:
            return None
        return {"name": "Records", "app_label": RECORDS_LABEL, "app_url": reverse(f"{self.name}:records"),
                "has_module_perms": True, "models": models}

    @method_decorator(require_safe)
    def records_index(self, request):
        """The Records section's page, like an app's page: its tables, with their view and change links. It
        changes nothing, so it takes no POST (405; tests/faults/test_security.py lists it as read-only)."""
        app_list = self.get_app_list(request, RECORDS_LABEL)
        if not app_list:
            raise PermissionDenied
        request.current_app = self.name
        return TemplateResponse(request, "admin/app_index.html", {
            **self.each_context(request), "title": "Records", "subtitle": None, "app_list": app_list,
            "app_label": RECORDS_LABEL,
        })

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
            path("records/", self.admin_view(self.records_index), name="records"),
        ]
        return extra + super().get_urls()
