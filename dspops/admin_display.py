"""Small presentation helpers shared by the admin pages."""

from datetime import date, datetime

from django.contrib import admin
from django.db import models
from django.utils import timezone
from django.contrib import admin
from django.utils.html import format_html, format_html_join


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by monitors, imports and services: nobody adds, edits or deletes them here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def mapping_table(mapping) -> str:
    """A dict (e.g. a run's inputs) as a readable two-column table; nested values as text."""
    if not mapping:
        return format_html("<em>{}</em>", "none")
    if not isinstance(mapping, dict):
        return format_html("<code>{}</code>", mapping)
    rows = format_html_join(
        "", "<tr><th style='text-align:left;padding-right:1em'>{}</th><td>{}</td></tr>",
        ((key, _text(value)) for key, value in mapping.items()),
    )
    return format_html("<table>{}</table>", rows)


def _text(value) -> str:
    if value is None:
        return "missing"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(_text(v) for v in value) or "none"
    return str(value)


class YearDateFilter(admin.DateFieldListFilter):
    """Django's date filter (any date, today, past 7 days, this month) with one link per year.

    Used instead of ``date_hierarchy`` on the large tables (fills, monitor runs, alerts): on
    SQLite the hierarchy's year list calls a Python function on every row, so the page got
    slower as the table grew. The years here come from the oldest and the newest row: two
    queries that an index on the field (fills, monitor runs) answers without reading the
    table. A year in between without rows still gets its (empty) link.
    """

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        rows = model._default_manager.values_list(field_path, flat=True)
        if field.null:
            rows = rows.filter(**{f"{field_path}__isnull": False})
        first, last = rows.order_by(field_path).first(), rows.order_by(f"-{field_path}").first()
        if first is None or last is None:
            return
        if isinstance(field, models.DateTimeField):
            first, last = timezone.localtime(first), timezone.localtime(last)

            def start_of(year):
                return timezone.make_aware(datetime(year, 1, 1))
        else:
            def start_of(year):
                return date(year, 1, 1)
        years = tuple(
            (str(year), {self.lookup_kwarg_since: start_of(year), self.lookup_kwarg_until: start_of(year + 1)})
            for year in range(last.year, first.year - 1, -1)
        )
        # Django's links: any date, today, past 7 days, this month, this year[, no date, has date].
        self.links = self.links[:4] + years + self.links[5:]
