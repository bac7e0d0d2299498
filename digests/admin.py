from django.contrib import admin
from django.utils.html import format_html

from dspops.core.alerts import acknowledge_alert
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
    list_per_page = 50  # an operator reads the latest first; fewer rows keep the page fast
    list_display = ("severity_badge", "code", "subject", "sleeve", "short_message", "last_seen_at",
                    "occurrences", "state", "acknowledged_by")
    list_filter = (("last_seen_at", YearDateFilter), "severity", "code", "sleeve",
                   ("resolved_at", admin.EmptyFieldListFilter), ("acknowledged_at", admin.EmptyFieldListFilter))
    search_fields = ("code", "subject", "message")
    list_select_related = ("sleeve", "acknowledged_by")
    actions = ["acknowledge"]
    readonly_fields = ("severity", "code", "subject", "sleeve", "message", "first_seen_at", "last_seen_at",
                       "occurrences", "resolved_at", "acknowledged_by", "acknowledged_at", "emailed_at")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, obj):
        # Classes from static/dspops/dspops.css: the Content-Security-Policy allows no style attributes.
        return format_html('<strong class="text-{}">{}</strong>', obj.severity, obj.get_severity_display().upper())

    @admin.display(description="what to do")
    def short_message(self, obj):
        return obj.message if len(obj.message) <= 140 else obj.message[:140] + "…"

    @admin.display(description="state")
    def state(self, obj):
        if obj.resolved_at:
            return "resolved"
        return "acknowledged" if obj.acknowledged_at else "open"

    @admin.action(description="Acknowledge the selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset):
        count = 0
        for alert in queryset.filter(acknowledged_at__isnull=True):
            acknowledge_alert(alert=alert, user=request.user)
            self.log_change(request, alert, "Acknowledged")
            count += 1
        self.message_user(request, f"{count} alert(s) acknowledged.")
