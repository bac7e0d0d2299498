from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class DspopsConfig(AppConfig):
    default = True
    name = "dspops"
    verbose_name = "Core: instruments and quotes"


class DspopsAdminConfig(admin_apps.AdminConfig):
    """The admin, with dspops's site: the index page is the operator's dashboard."""

    default = False
    default_site = "dspops.admin_site.DspopsAdminSite"
