"""The base class of every dspops management command.

Django runs the whole system-check framework before a command whose ``requires_system_checks`` is
left at its default: it imports the URLconf (and through it the admin site, the dashboard and every
view), validates every model, every ModelAdmin and every setting. That is most of a monitor's
start-up and answers nothing the monitor needs: the checks do not depend on the command, and a
deployment runs them where they belong, in ``manage.py check`` (and ``migrate``), which keep them.

And a command run as the program (``manage.py <command>``) ends without the interpreter's last
garbage collection over everything django.setup() built: the objects are moved to the collector's
permanent generation (gc.freeze) when the command finishes, so the final collection skips them.
That collection finds no garbage worth the time (the process is ending; the operating system
takes the memory back) and cost about 70 ms of every run. Nothing else about the exit changes:
atexit handlers, logging, the output streams and the database connections close as before.

So every command of the sleeves, rolls and the site derives from ``OperationalCommand``, and
tests/test_command_startup.py walks them all to keep it that way.
"""

from __future__ import annotations

import gc
import sys

from django.core.management.base import BaseCommand


class OperationalCommand(BaseCommand):
    """A dspops command: no system checks before it runs (``manage.py check`` runs them)."""

    requires_system_checks: list[str] | str = []

    def run_from_argv(self, argv):
        try:
            super().run_from_argv(argv)
        finally:
            if list(argv) == sys.argv:  # the command is the program (manage.py), not a call inside another one
                gc.freeze()
