from django.contrib import admin

from dspops.models import Instrument, QuoteSnapshot


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ("local_symbol", "symbol", "sec_type", "exchange", "currency", "multiplier",
                    "con_id", "contract_month", "settlement_date")
    list_filter = ("sec_type", "exchange", "currency")
    search_fields = ("symbol", "local_symbol", "=con_id", "description")
    ordering = ("sec_type", "symbol", "settlement_date")


@admin.register(QuoteSnapshot)
class QuoteSnapshotAdmin(admin.ModelAdmin):
    list_display = ("as_of", "instrument", "bid", "ask", "last", "close", "market_data_type", "source",
                    "valid", "invalid_reason")
    list_filter = ("source", "valid", "market_data_type", "instrument__sec_type")
    search_fields = ("instrument__local_symbol", "instrument__symbol", "invalid_reason")
    list_select_related = ("instrument",)
    date_hierarchy = "as_of"
    autocomplete_fields = ("instrument",)

    def has_change_permission(self, request, obj=None):
        return False  # an observed quote is a fact; record a new one instead
