"""The autocomplete select of the admin, made safe against a value that is not a key."""

from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError


class KeyCheckingAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete select, showing a submitted value that is not a valid key as nothing selected.

    When a form is shown again with its errors, Django's widget looks the submitted value up as a
    key. A value that cannot be one (a hand-made POST: "abc" for an instrument id) raised
    ValueError there, and one beyond the key's range (99999999999999999999999, too large for a
    bigint) an OverflowError on SQLite and a range error on PostgreSQL: a server error instead of
    the form's own "Select a valid choice".
    """

    def optgroups(self, name, value, attr=None):
        key = self.field.remote_field.model._meta.get_field(self.field.remote_field.field_name)
        readable = []
        for item in value:
            try:
                key.run_validators(key.to_python(item))  # a key, within the database's range for it
            except (ValidationError, ValueError, TypeError, OverflowError):
                continue
            readable.append(item)
        return super().optgroups(name, readable, attr)


class KeyCheckingAutocompleteMixin:
    """For a ModelAdmin with autocomplete_fields: draw them with KeyCheckingAutocompleteSelect."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = KeyCheckingAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
