"""django-simple-history's admin, with its "revert" page guarded by the change permission."""

from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin


class GuardedHistoryAdmin(SimpleHistoryAdmin):
    """SimpleHistoryAdmin whose page for one old version saves it only for a user who may change the object.

    django-simple-history saves a POST to that page for anyone who may *view* the object: a Viewer
    could set a threshold back, and an operator could rewrite a gate state or a fill, which nobody
    edits. Looking at the old versions stays open to every viewer.
    """

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST" and not self.has_change_permission(request):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
