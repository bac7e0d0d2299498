from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
]

# Styled error pages in the admin's look, each with a way back (dspops/middleware.py).
handler403 = "dspops.middleware.permission_denied"
handler404 = "dspops.middleware.page_not_found"
handler500 = "dspops.middleware.server_error"
