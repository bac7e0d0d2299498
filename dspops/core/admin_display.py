"""Small presentation helpers shared by the admin pages, and the admin's defences against hostile input.

Every change list of dspops's own admins uses ``BoundedChangeList`` (through ``BoundedAdminMixin``):
a date in the query string outside dspops.core.bounds (``?executed_at__gte=9999-12-31``,
``?as_of__year=9999``) or an id beyond its column (``?attempt=99999999999999999999999``) is an
invalid lookup, answered like any other (the change list again, with Django's "?e=1"), never a
server error.
"""

from datetime import date, datetime, time, timedelta, timezone as dt_timezone
from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import NotRelationField, display_for_field, get_fields_from_path
from django.contrib.admin.views.main import ChangeList
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import connections, models
from django.db.models import Q
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpResponseRedirect
from django.middleware.csrf import get_token
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST
from django.utils.html import format_html, format_html_join

from dspops.core import bounds

BOUNDS_TEXT = f"{bounds.EARLIEST_DATE.year}–{bounds.LATEST_DATE.year}"


# --- hostile query strings --------------------------------------------------------------------------


def _field_path(model, key: str):
    """(field, lookups) for the longest prefix of `key` that names a field of `model` (across relations).

    "executed_at__gte" -> (executed_at, ["gte"]); None when no prefix is a field (Django judges it).
    """
    parts = key.split(LOOKUP_SEP)
    for split in range(len(parts), 0, -1):
        try:
            field = get_fields_from_path(model, LOOKUP_SEP.join(parts[:split]))[-1]
        except (FieldDoesNotExist, NotRelationField, LookupError, AttributeError, ValueError):
            continue
        return field, parts[split:]
    return None


COMPARISONS = ("exact", "gt", "gte", "lt", "lte", "range", "in")


def _integer_key(field):
    """The integer field whose range a lookup on `field` must respect (a foreign key's target), or None."""
    target = getattr(field, "target_field", None) if field.is_relation else field
    if isinstance(target, (models.IntegerField, models.AutoField)) and not field.many_to_many:
        return target
    return None


def check_lookups(model, params: dict[str, list[str]]) -> None:
    """Raise IncorrectLookupParameters for a lookup in `params` the database could not answer.

    Dates outside dspops.core.bounds: Django can parse year 9999 or 0001-01-01, but not use them (the next
    year does not exist; 0001-01-01 in New York is before year 1 in UTC), so they failed in the
    database or the date hierarchy. Integers beyond the column's range (an id of
    99999999999999999999999 is too large for a bigint) failed in the database too. Values Django cannot
    parse at all are left to Django, which refuses them itself.
    """
    for key, values in params.items():
        found = _field_path(model, key)
        if found is None:
            continue
        field, lookups = found
        lookup = lookups[0] if len(lookups) == 1 else "exact" if not lookups else "chained"
        if isinstance(field, (models.DateField, models.DateTimeField)):
            for value in values:
                _check_date_lookup(key, field, lookup, value)
        elif (key_field := _integer_key(field)) is not None and lookup in COMPARISONS:
            for value in values:
                for piece in (value.split(",") if lookup in ("in", "range") else [value]):
                    try:
                        number = key_field.to_python(piece.strip())
                    except (ValidationError, ValueError, TypeError, OverflowError):
                        continue
                    try:
                        key_field.run_validators(number)
                    except ValidationError:
                        raise IncorrectLookupParameters(f"{key}={piece[:40]!r} is beyond the range of its column") \
                            from None


def _check_date_lookup(key: str, field, lookup: str, value: str) -> None:
    if lookup == "isnull":
        return
    if lookup == "year":
        if not value.strip().lstrip("-").isdigit() or not (
                bounds.EARLIEST_DATE.year <= int(value) <= bounds.LATEST_DATE.year):
            raise IncorrectLookupParameters(f"{key}={value!r}: the year is outside {BOUNDS_TEXT}")
        return
    if lookup not in COMPARISONS:
        # __month, __day, __date, __week_day...: on SQLite a Python function converts every row, and a row
        # dated 0001-01-01 made it fail. No dspops page asks for them; a date range does the same.
        raise IncorrectLookupParameters(f"{key}: filter by a date range (__gte, __lt) instead")
    for piece in (value.split(",") if lookup in ("in", "range") else [value]):
        try:
            parsed = field.to_python(piece.strip())
        except (ValidationError, OverflowError, ValueError):
            continue  # not a date at all: Django refuses it with its own message
        if parsed is None:
            continue
        day = parsed.date() if isinstance(parsed, datetime) else parsed
        # An exclusive end may be the day after the last one: "< 2101-01-01" is "in 2100 or before".
        if (lookup == "lt" and day == bounds.LATEST_DATE + timedelta(days=1) and _midnight(parsed)) or (
                lookup == "gt" and day == bounds.EARLIEST_DATE - timedelta(days=1)):
            continue
        try:
            bounds.check_date(parsed, key)
        except bounds.OutOfBounds as exc:
            raise IncorrectLookupParameters(str(exc)) from None


def _midnight(value) -> bool:
    return not isinstance(value, datetime) or value.time() == time(0)


class BoundedChangeList(ChangeList):
    """Django's ChangeList, refusing lookups the database cannot answer (check_lookups) before the query."""

    def get_filters(self, request):
        check_lookups(self.model, self.get_filters_params())
        return super().get_filters(request)


class BoundedAdminMixin:
    """For a ModelAdmin: its change list is a BoundedChangeList, and its date columns show a stored date
    outside the bounds (0001-01-01, 9999-12-31) as flagged UTC text instead of failing to convert it."""

    def get_changelist(self, request, **kwargs):
        return BoundedChangeList

    def get_object(self, request, object_id, from_field=None):
        # No row has a NUL in its key, and PostgreSQL refuses the query outright (a text key: the task lists).
        if "\x00" in str(object_id):
            return None
        return super().get_object(request, object_id, from_field)

    def get_list_display(self, request):
        return tuple(moment_column(self.model, name) if isinstance(name, str) else name
                     for name in super().get_list_display(request))

    # A view-only change page draws every field read-only with Django's own conversion to New York time,
    # which fails for a row dated 0001-01-01: there the date fields are drawn by moment_column instead.

    def change_view(self, request, object_id, form_url="", extra_context=None):
        request.dspops_change_page = True
        return super().change_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not (getattr(request, "dspops_change_page", False) and obj is not None
                and not self.has_change_permission(request, obj)):
            return fieldsets

        def shown(name):
            if isinstance(name, (list, tuple)):
                return tuple(shown(n) for n in name)
            return moment_column(self.model, name) if isinstance(name, str) else name

        return [(title, {**options, "fields": [shown(n) for n in options["fields"]]}) for title, options in fieldsets]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if kwargs.get("fields"):  # the columns above are drawn, never edited: not form fields
            kwargs["fields"] = [name for name in kwargs["fields"] if isinstance(name, str)]
        return super().get_form(request, obj, change, **kwargs)


_MOMENT_COLUMNS: dict = {}


def moment_column(model, name: str):
    """`name` itself, unless it is a date or datetime field of `model`: then a column drawing it with
    moment_display, sorted by the field (one callable per field, so the change list sees the same one)."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return name
    if not isinstance(field, (models.DateField, models.DateTimeField)):
        return name
    key = (model, name)
    if key not in _MOMENT_COLUMNS:
        def column(obj):
            return moment_display(getattr(obj, name), field)

        column.__name__ = name
        column.short_description = field.verbose_name
        column.admin_order_field = name
        _MOMENT_COLUMNS[key] = column
    return _MOMENT_COLUMNS[key]


# --- numbers stored before dspops bounded them ---------------------------------------------------------


def _column_limit(field: models.DecimalField) -> Decimal:
    """The largest magnitude the column holds: 9999999999.999999 for max_digits 16, 6 places."""
    return Decimal(10) ** (field.max_digits - field.decimal_places) - Decimal(1).scaleb(-field.decimal_places)


def unreadable_rows(model) -> Q | None:
    """Rows holding a number too large for its decimal column, or None where the database cannot hold one.

    SQLite keeps 1e300 in a decimal column (PostgreSQL refuses it), and Django then cannot read the row
    back: the page showing it failed. Only SQLite needs this.
    """
    if connections[model._default_manager.db].vendor != "sqlite":
        return None
    q = Q()
    for field in model._meta.concrete_fields:
        if isinstance(field, models.DecimalField) and field.max_digits is not None:
            limit = _column_limit(field)
            q |= Q(**{f"{field.attname}__gt": limit}) | Q(**{f"{field.attname}__lt": -limit})
    return q or None


class PageCheckedChangeList(BoundedChangeList):
    """A BoundedChangeList that looks for unreadable rows (unreadable_rows) among the rows of the page it shows,
    and leaves them out of it: a lookup by the page's keys, so a page costs the same at 100,000 rows as at 10
    (a search of the whole table for them took as long as the rest of the page at 100,000 fills)."""

    unreadable_ids: tuple = ()

    def get_results(self, request):
        super().get_results(request)
        q = unreadable_rows(self.model)
        if q is None:
            return
        shown = list(self.result_list.values_list("pk", flat=True))
        bad = set(self.model._default_manager.filter(q, pk__in=shown).values_list("pk", flat=True)) if shown else set()
        if bad:
            self.unreadable_ids = tuple(sorted(bad))
            self.result_list = self.queryset.filter(pk__in=[pk for pk in shown if pk not in bad])


class UnreadableRowsMixin(BoundedAdminMixin):
    """A ModelAdmin that leaves out rows it cannot read (see unreadable_rows) and says which they are.

    The change list checks the rows of its page (PageCheckedChangeList) and names the unreadable ones; every other
    view leaves them all out. `discard_unreadable_view` (POST, for a user who may add rows here or run the
    monitors: the Operator) removes them: they are not data.
    """

    def can_discard_unreadable(self, request) -> bool:
        return self.has_add_permission(request) or request.user.has_perm("sleeves.run_tasks")

    def get_changelist(self, request, **kwargs):
        return PageCheckedChangeList

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if getattr(request, "_dspops_page_checked", False):  # the change list checks its own page
            return queryset
        q = unreadable_rows(self.model)
        return queryset.exclude(q) if q is not None else queryset

    def unreadable_ids(self) -> list:
        """Every unreadable row (up to 50): a search of the whole table, for removing them (a POST)."""
        q = unreadable_rows(self.model)
        if q is None:
            return []
        return list(self.model._default_manager.filter(q).order_by("pk").values_list("pk", flat=True)[:50])

    def changelist_view(self, request, extra_context=None):
        request._dspops_page_checked = True
        try:
            response = super().changelist_view(request, extra_context)
        finally:
            request._dspops_page_checked = False
        cl = (getattr(response, "context_data", None) or {}).get("cl")
        ids = list(getattr(cl, "unreadable_ids", ()))
        if ids and request.method == "GET":
            opts = self.model._meta
            text = format_html(
                "{} {} row(s) hold a number too large for its column (stored before dspops bounded its inputs) "
                "and are not shown: id {}. They are not data.", len(ids), opts.verbose_name, ", ".join(map(str, ids)))
            if self.can_discard_unreadable(request):
                text = format_html(
                    '{} <form method="post" action="{}" class="inline-form">'
                    '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
                    '<input type="submit" id="discard-unreadable" value="Remove them"></form>', text,
                    reverse(f"admin:{opts.app_label}_{opts.model_name}_discard_unreadable"), get_token(request))
            self.message_user(request, text, messages.WARNING)
        if getattr(response, "context_data", None) is not None:
            response.context_data.update(unreadable_ids=ids,
                                         can_discard_unreadable=bool(ids) and self.can_discard_unreadable(request))
        return response

    @method_decorator(require_POST)
    def discard_unreadable_view(self, request):
        if not self.can_discard_unreadable(request):
            raise PermissionDenied
        ids = self.unreadable_ids()
        if ids:
            content_type = ContentType.objects.get_for_model(self.model)
            LogEntry.objects.bulk_create(
                LogEntry(user_id=request.user.pk, content_type=content_type, object_id=str(pk),
                         object_repr=f"unreadable {self.model._meta.verbose_name} #{pk}", action_flag=DELETION,
                         change_message="Removed: a number too large for its column, not data")
                for pk in ids)
            # A plain DELETE: reading the rows (as Model.delete would) is what fails.
            self.model._default_manager.filter(pk__in=ids)._raw_delete(self.model._default_manager.db)
            self.message_user(request, f"Removed {len(ids)} unreadable row(s): id {', '.join(map(str, ids))}.")
        opts = self.model._meta
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))

    def get_urls(self):
        opts = self.model._meta
        return [path("discard-unreadable/", self.admin_site.admin_view(self.discard_unreadable_view),
                     name=f"{opts.app_label}_{opts.model_name}_discard_unreadable")] + super().get_urls()


class ReadOnlyAdmin(UnreadableRowsMixin, admin.ModelAdmin):
    """Rows written by monitors, imports and services: nobody adds, edits or deletes them here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- display ----------------------------------------------------------------------------------------


def moment_display(value, field, empty: str = "-"):
    """A stored date or time as the admin shows it (New York), or, when it cannot be shown there or lies
    outside the bounds (a row stored before the bounds: 0001-01-01, 9999-12-31), as UTC text flagged so."""
    if value is None:
        return empty
    day = value.date() if isinstance(value, datetime) else value
    inside = bounds.EARLIEST_DATE <= day <= bounds.LATEST_DATE
    if inside:
        try:
            return display_for_field(value, field, empty)
        except (OverflowError, ValueError):
            pass
    if isinstance(value, datetime):
        utc = value.astimezone(dt_timezone.utc) if timezone.is_aware(value) else value
        text = f"{utc.date().isoformat()} {utc:%H:%M:%S} UTC"  # isoformat: %Y writes year 1 as "1"
    else:
        text = value.isoformat()
    return format_html('<strong class="fail" title="outside {}">{} (outside {})</strong>', BOUNDS_TEXT, text,
                       BOUNDS_TEXT)


def mapping_table(mapping) -> str:
    """A dict (e.g. a run's inputs) as a readable two-column table; nested values as text."""
    if not mapping:
        return format_html("<em>{}</em>", "none")
    if not isinstance(mapping, dict):
        return format_html("<code>{}</code>", mapping)
    rows = format_html_join(
        "", "<tr><th class='key'>{}</th><td>{}</td></tr>",
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

    Used instead of ``date_hierarchy`` on dspops's tables: on SQLite the hierarchy's year list calls
    a Python function on every row, so the page got slower as the table grew, and a row dated
    0001-01-01 or 9999-12-31 (stored before dspops bounded its dates) made that function, and the
    page, fail. The years here come from the oldest and the newest row within 2000–2100: two
    queries that an index on the field answers without reading the table. A year in between
    without rows still gets its (empty) link. Rows outside 2000–2100 get a link of their own
    ("before 2000", "after 2100"), so an operator can find them and correct them.
    """

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        is_datetime = isinstance(field, models.DateTimeField)
        if is_datetime:
            def start_of(year):
                return timezone.make_aware(datetime(year, 1, 1))
            earliest = start_of(bounds.EARLIEST_DATE.year)
            latest = timezone.make_aware(datetime.combine(bounds.LATEST_DATE, time.max))
            after = {f"{field_path}__gt": latest.isoformat(" ")}
        else:
            def start_of(year):
                return date(year, 1, 1)
            earliest, latest = bounds.EARLIEST_DATE, bounds.LATEST_DATE
            after = {f"{field_path}__gt": bounds.LATEST_DATE.isoformat()}
        rows = model._default_manager.values_list(field_path, flat=True)
        if field.null:
            rows = rows.filter(**{f"{field_path}__isnull": False})
        inside = rows.filter(**{f"{field_path}__gte": earliest, f"{field_path}__lte": latest})
        first = inside.order_by(field_path).first()
        last = inside.order_by(f"-{field_path}").first()
        years = ()
        if first is not None and last is not None:
            if is_datetime:
                first, last = timezone.localtime(first), timezone.localtime(last)
            years = tuple(
                (str(year), {self.lookup_kwarg_since: start_of(year), self.lookup_kwarg_until: start_of(year + 1)})
                for year in range(last.year, first.year - 1, -1)
            )
        outside = ()
        if rows.filter(**{f"{field_path}__lt": earliest}).exists():
            outside += ((f"before {bounds.EARLIEST_DATE.year}", {self.lookup_kwarg_until: earliest}),)
        if rows.filter(**{f"{field_path}__gt": latest}).exists():
            outside += ((f"after {bounds.LATEST_DATE.year}", after),)
        # Django's links: any date, today, past 7 days, this month, this year[, no date, has date].
        self.links = self.links[:4] + years + outside + self.links[5:]

    def expected_parameters(self):
        return [*super().expected_parameters(), f"{self.field_path}__gt"]

