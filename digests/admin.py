from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.utils.html import format_html

from dspops.core import alerts
from dspops.core.models import Alert
from digests.models import Digest
from dspops.core.admin_display import BoundedAdminMixin, ReadOnlyAdmin, YearDateFilter


@admin.register(Digest)
class DigestAdmin(ReadOnlyAdmin):
    list_display = ("trading_date", "source", "simulated", "generated_at", "note")
    list_filter = (("trading_date", YearDateFilter), "source", "simulated")
    search_fields = ("markdown", "note")
    fields = ("trading_date", "source", "simulated", "generated_at", "file_path", "note", "rendered")
    readonly_fields = fields

    @admin.display(description="digest")
    def rendered(self, obj):
        # Lazy for start-up cost: every command imports the admin modules, only this page renders markdown.
        from dspops.core.sanitize import markdown_to_safe_html

        # Generated digests carry alert text from files and the broker; legacy ones are whole files.
        # Both are sanitized: no raw HTML, no script, no javascript: link (DECISIONS.md §11).
        return format_html('<div class="digest">{}</div>', markdown_to_safe_html(obj.markdown))


@admin.register(Alert)
class AlertAdmin(BoundedAdminMixin, admin.ModelAdmin):
    """The alert list, and each alert's own page: read-only, with the registry's title, advice and link,
    and an Acknowledge button (there is nothing to edit on an alert)."""

    list_per_page = 50  # an operator reads the latest first; fewer rows keep the page fast
    list_display = ("severity_badge", "title", "subject", "sleeve", "short_message", "last_seen_at",
                    "last_session", "occurrences", "state", "acknowledged_by")
    list_filter = (("last_seen_at", YearDateFilter), "severity", "code", "sleeve",
                   ("resolved_at", admin.EmptyFieldListFilter), ("acknowledged_at", admin.EmptyFieldListFilter))
    search_fields = ("code", "subject", "message")
    list_select_related = ("sleeve", "acknowledged_by")
    actions = ["acknowledge"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, obj):
        # Classes from static/dspops/dspops.css: the Content-Security-Policy allows no style attributes.
        # Only an open, unacknowledged alert is shown in its severity's colour (Alert.marked_severity).
        if not obj.marked_severity:
            state = " (acknowledged)" if obj.acknowledged_at and obj.resolved_at is None else ""
            return format_html("<strong>{}</strong>{}", obj.get_severity_display().upper(), state)
        return format_html('<strong class="text-{}">{}</strong>', obj.marked_severity,
                           obj.get_severity_display().upper())

    @admin.display(description="alert", ordering="code")
    def title(self, obj):
        return alerts.title_of(obj)

    @admin.display(description="what happened")
    def short_message(self, obj):
        return obj.message if len(obj.message) <= 140 else obj.message[:140] + "…"

    @admin.display(description="state")
    def state(self, obj):
        return obj.state

    @admin.action(description="Acknowledge the selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset):
        count = 0
        for alert in queryset.filter(acknowledged_at__isnull=True, resolved_at__isnull=True):
            if alerts.acknowledge_alert(alert=alert, user=request.user):
                self.log_change(request, alert, "Acknowledged")
                count += 1
        self.message_user(request, f"{count} alert(s) acknowledged. They stay listed until their cause is gone.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The alert's page: what it is, what to do, where it points, and the Acknowledge button. Never a form."""
        if request.method != "GET":
            if not self.has_change_permission(request):
                raise PermissionDenied
            return HttpResponseNotAllowed(["GET"])  # nothing to save: acknowledging is its own button
        alert = self.get_object(request, unquote(object_id))
        if alert is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, alert):
            raise PermissionDenied
        view = alerts.describe(alert)
        return TemplateResponse(request, "admin/dspops/alert/alert_page.html", {
            **self.admin_site.each_context(request),
            "title": f"{view.title}: {alert.subject}" if alert.subject else view.title,
            "subtitle": None, "opts": self.opts, "original": alert, "alert": alert, "view": view,
            "kind": alerts.REGISTRY.get(alert.code),
            "can_acknowledge": (alert.acknowledged_at is None and alert.resolved_at is None
                                and self.has_change_permission(request, alert)),
            "can_resolve": (alert.resolved_at is None and alert.code in alerts.REGISTRY
                            and alerts.REGISTRY[alert.code].operator_resolves
                            and self.has_change_permission(request, alert)),
            "has_view_permission": True,
            **(extra_context or {}),
        })
