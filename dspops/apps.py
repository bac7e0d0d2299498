from django.contrib.admin import apps as admin_apps
from django.apps import AppConfig


class SiteConfig(AppConfig):
    """The site: the project package around the kernel (its commands: bootstrap, the demo, the legacy
    import, warm-up, the simulator). It has no models."""

    default = True
    name = "dspops"
    label = "dspops_site"
    verbose_name = "dspops site"

    def ready(self):
        from dspops import delivery  # the site's handlers, connected once the apps are loaded
        from dspops.core.alerts import alert_raised

        alert_raised.connect(delivery.on_alert_raised, dispatch_uid="dspops.delivery.email")


class DspopsAdminConfig(admin_apps.AdminConfig):
    """The admin, with dspops's site: the index page is the operator's dashboard."""

    default = False
    default_site = "dspops.admin_site.DspopsAdminSite"
