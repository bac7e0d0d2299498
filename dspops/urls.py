from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "dspops: DSP-100K operations"
admin.site.site_title = "dspops"
admin.site.index_title = "DSP-100K book"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
]
