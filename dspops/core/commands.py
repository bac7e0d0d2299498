"""The base class of every dspops management command.

Django runs the whole system-check framework before a command whose ``requires_system_checks`` is
left at its default: it imports the URLconf (and through it the admin site, the dashboard and every
view), validates every model, every ModelAdmin and every setting. That is most of a monitor's
start-up and answers nothing the monitor needs: the checks do not depend on the command, and a
deployment runs them where they belong, in ``manage.py check`` (and ``migrate``), which keep them.

So every command of the sleeves, rolls and the site derives from ``OperationalCommand``, and
tests/test_command_startup.py walks them all to keep it that way.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand


class OperationalCommand(BaseCommand):
    """A dspops command: no system checks before it runs (``manage.py check`` runs them)."""

    requires_system_checks: list[str] | str = []
