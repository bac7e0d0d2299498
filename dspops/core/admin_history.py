"""django-simple-history's admin, with its "revert" page guarded by the change permission and its
pages answering 404 (never a server error) for an object or version id that cannot be a key."""

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from dspops.core.admin_display import UnreadableRowsMixin


def key_or_404(field, value: str, what: str):
    """`value` as a value of the key `field`, or Http404 when it cannot be one.

    "abc" for an integer key, or 99999999999999999999999 (beyond a bigint), would otherwise reach
    the query and fail there: a server error for a mistyped address.
    """
    try:
        key = field.to_python(value)
        field.run_validators(key)  # the database's range for an integer key
    except (ValidationError, ValueError, TypeError, OverflowError):
        raise Http404(f"No {what} with the id {value[:40]!r}.") from None
    return key


class GuardedHistoryAdmin(UnreadableRowsMixin, SimpleHistoryAdmin):
    """SimpleHistoryAdmin whose page for one old version saves it only for a user who may change the object.

    django-simple-history saves a POST to that page for anyone who may *view* the object: a Viewer
    could set a threshold back, and an operator could rewrite a gate state or a fill, which nobody
    edits. Looking at the old versions stays open to every viewer.

    Its pages (``<id>/history/`` and ``<id>/history/<version>/``) look the ids up as they come; an id
    that cannot be a key ("abc") is a 404 here.
    """

    def history_view(self, request, object_id, extra_context=None):
        key_or_404(self.model._meta.pk, unquote(object_id), self.model._meta.verbose_name)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        key_or_404(self.model._meta.pk, unquote(object_id), self.model._meta.verbose_name)
        history = getattr(self.model, self.model._meta.simple_history_manager_attribute)
        key_or_404(history.model._meta.pk, unquote(version_id), f"version of a {self.model._meta.verbose_name}")
        if request.method == "POST" and not self.has_change_permission(request):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
