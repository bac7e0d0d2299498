from django.apps import AppConfig


class DspopsConfig(AppConfig):
    name = "dspops"
    verbose_name = "Core: instruments and quotes"
