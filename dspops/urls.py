from django.contrib import admin
from django.urls import path, re_path
from django.views.generic import RedirectView

# Pages whose model moved floor (Alert into the kernel, the position config into sleeves): an old
# bookmark still lands on the same page.
MOVED = (("digests/alert", "dspops/alert"), ("rolls/spreadposition", "sleeves/spreadposition"))

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    *(re_path(rf"^admin/{old}/(?P<rest>.*)$", RedirectView.as_view(url=f"/admin/{new}/%(rest)s", query_string=True))
      for old, new in MOVED),
    path("admin/", admin.site.urls),
]

# Styled error pages in the admin's look, each with a way back (dspops/middleware.py).
handler403 = "dspops.middleware.permission_denied"
handler404 = "dspops.middleware.page_not_found"
handler500 = "dspops.middleware.server_error"
