"""Decimal field shapes used across the models, so precision is decided once."""

from django.db import models


class PriceField(models.DecimalField):
    """A price or spread in points (VX, SPY, ETFs): up to 6 decimals."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 16)
        kwargs.setdefault("decimal_places", 6)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs


class MoneyField(models.DecimalField):
    """An amount of money in the account currency, to the cent."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 18)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs
