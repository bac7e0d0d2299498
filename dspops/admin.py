from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django_q import admin as django_q_admin

from dspops.broker.errors import GatewayError
from dspops.admin_widgets import KeyCheckingAutocompleteMixin
from dspops.models import BrokerSnapshot, Instrument, QuoteSnapshot

# django-q2's "resubmit" action queues a finished task again (and deletes a failure's record). It asks for
# no permission, so a Viewer could start work from the task lists; it now needs the change permission.
django_q_admin.resubmit_task.allowed_permissions = ("change",)


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ("local_symbol", "symbol", "sec_type", "exchange", "currency", "multiplier",
                    "con_id", "contract_month", "settlement_date")
    list_filter = ("sec_type", "exchange", "currency")
    search_fields = ("symbol", "local_symbol", "=con_id", "description")
    ordering = ("sec_type", "symbol", "settlement_date")


@admin.register(QuoteSnapshot)
class QuoteSnapshotAdmin(KeyCheckingAutocompleteMixin, admin.ModelAdmin):
    list_display = ("as_of", "instrument", "bid", "ask", "last", "close", "market_data_type", "source",
                    "valid", "invalid_reason")
    list_filter = ("source", "valid", "market_data_type", "instrument__sec_type")
    search_fields = ("instrument__local_symbol", "instrument__symbol", "invalid_reason")
    list_select_related = ("instrument",)
    date_hierarchy = "as_of"
    autocomplete_fields = ("instrument",)

    def has_change_permission(self, request, obj=None):
        return False  # an observed quote is a fact; record a new one instead


@admin.register(BrokerSnapshot)
class BrokerSnapshotAdmin(admin.ModelAdmin):
    """The broker as last read: account figures and positions, with a button to read it again."""

    list_display = ("as_of", "account", "simulated", "net_liquidation", "excess_liquidity", "maint_margin_req",
                    "position_count", "requested_by")
    list_filter = ("simulated", "account")
    search_fields = ("account",)
    date_hierarchy = "as_of"
    fields = ("as_of", "account", "simulated", "net_liquidation", "excess_liquidity", "maint_margin_req",
              "available_funds", "total_cash_value", "currency", "positions_table", "requested_by")
    readonly_fields = fields
    change_list_template = "admin/dspops/brokersnapshot/change_list.html"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="positions")
    def position_count(self, obj):
        return len(obj.positions)

    @admin.display(description="positions")
    def positions_table(self, obj):
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td style='text-align:right'>{}</td><td style='text-align:right'>{}</td>"
            "<td style='text-align:right'>{}</td></tr>",
            ((p["local_symbol"], p["sec_type"], p["quantity"], p["avg_cost"], p["con_id"]) for p in obj.positions),
        )
        return format_html(
            "<table class='dsp'><tr><th>contract</th><th>type</th><th>quantity</th><th>TWS avg cost</th>"
            "<th>conId</th></tr>{}</table>", rows)

    def get_urls(self):
        return [path("refresh/", self.admin_site.admin_view(self.refresh_view), name="dspops_brokersnapshot_refresh"),
                path("reconcile/", self.admin_site.admin_view(self.reconcile_view),
                     name="dspops_brokersnapshot_reconcile")] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        latest = BrokerSnapshot.objects.order_by("-as_of", "-id").first()
        quotes = list(QuoteSnapshot.objects.filter(recorded_at__gte=latest.as_of - timedelta(minutes=5))
                      .select_related("instrument").order_by("instrument__sec_type", "instrument__local_symbol")) \
            if latest else []
        from sleeves.models import MonitorRun, RunKind

        reconciliation = MonitorRun.objects.filter(kind=RunKind.RECONCILE).order_by("-started_at", "-id").first()
        extra_context = {**(extra_context or {}), "latest": latest, "latest_positions": self.positions_table(latest)
                         if latest else "", "latest_quotes": quotes, "reconciliation": reconciliation,
                         "reconciliation_breaks": (reconciliation.outputs.get("breaks") or []) if reconciliation else []}
        return super().changelist_view(request, extra_context)

    def reconcile_view(self, request):
        """Compare the broker's positions with the sleeves' fills now; breaks become alerts."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        from sleeves.reconcile import ReconcileError, reconcile

        try:
            report = reconcile(role="web", triggered_by="admin")
        except ReconcileError as exc:
            self.message_user(request, f"Nothing was reconciled: {exc}", messages.ERROR)
        else:
            if report.ok:
                self.message_user(request, f"Positions match the broker: {report.matched} contracts.")
            else:
                self.message_user(request, f"{len(report.breaks)} reconciliation break(s); each is a critical alert.",
                                  messages.ERROR)
        return HttpResponseRedirect(reverse("admin:dspops_brokersnapshot_changelist"))

    def refresh_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        # Imported here: the broker sync (and its types) is not needed to start a command or render a page.
        from dspops.broker_sync import refresh_broker_snapshot

        try:
            snapshot = refresh_broker_snapshot(role="web", requested_by=request.user.get_username())
        except GatewayError as exc:
            self.message_user(request, f"The broker could not be read; nothing was stored. {exc}", messages.ERROR)
        else:
            self.log_addition(request, snapshot, "Read from the broker")
            self.message_user(request, f"Read {len(snapshot.positions)} positions and the account from "
                                       f"{snapshot.account}" + (" (SIMULATED BROKER)." if snapshot.simulated else "."))
        return HttpResponseRedirect(reverse("admin:dspops_brokersnapshot_changelist"))
