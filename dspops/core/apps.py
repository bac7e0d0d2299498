from django.apps import AppConfig


class KernelConfig(AppConfig):
    """The kernel: the floor every app stands on. Its label stays `dspops`, so its tables and
    migrations keep their names from before it moved into dspops/core/."""

    default = True
    name = "dspops.core"
    label = "dspops"
    verbose_name = "Core: instruments, quotes and alerts"
