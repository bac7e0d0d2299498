"""dspops's admin site: the index page is the operator's dashboard."""

from django.contrib import admin


class DspopsAdminSite(admin.AdminSite):
    site_header = "dspops: DSP-100K operations"
    site_title = "dspops"
    index_title = "Dashboard"
    index_template = "admin/dashboard.html"

    def index(self, request, extra_context=None):
        from digests.dashboard import dashboard_context

        return super().index(request, {**dashboard_context(request), **(extra_context or {})})

    def get_urls(self):
        from django.urls import path

        from digests import views

        extra = [
            path("dashboard/run/<str:name>/", self.admin_view(views.run_task), name="dashboard_run_task"),
            path("dashboard/chart/<str:name>.svg", self.admin_view(views.chart), name="dashboard_chart"),
            path("dashboard/weekly-review/", self.admin_view(views.weekly_review), name="dashboard_weekly_review"),
        ]
        return extra + super().get_urls()
