"""Decimal field shapes used across the models, so precision is decided once."""

from django.db import models

from dspops.core.bounds import MONEY_DIGITS, PRICE_DIGITS


class PriceField(models.DecimalField):
    """A price or spread in points (VX, SPY, ETFs): up to 6 decimals."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", PRICE_DIGITS[0])
        kwargs.setdefault("decimal_places", PRICE_DIGITS[1])
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs


class MoneyField(models.DecimalField):
    """An amount of money in the account currency, to the cent."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_DIGITS[0])
        kwargs.setdefault("decimal_places", MONEY_DIGITS[1])
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs
