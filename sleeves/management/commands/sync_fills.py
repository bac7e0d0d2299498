import argparse
from datetime import date, datetime, time

from django.core.management.base import CommandError

from dspops.core import calendars, clock, formats
from dspops.core.calendars import NEW_YORK
from dspops.core.commands import OperationalCommand
from dspops.core.errors import OperatorError
from sleeves.fill_import import sync_fills
from sleeves.management.commands._fill_output import write_fill_details


def parse_since(text: str) -> datetime:
    """An ISO date (midnight New York) or date-time (New York when it has no zone)."""
    try:
        if len(text.strip()) == 10:
            return datetime.combine(date.fromisoformat(text.strip()), time(0, 0), NEW_YORK)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        # An argparse type error: the parser prints the usage and exits 2 (a CommandError raised while the
        # options are parsed escapes Django's handler as a traceback with exit 1).
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or date-time (2026-01-14 or 2026-01-14T09:30, New York "
            "unless it names a zone)."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=NEW_YORK)


def previous_session_start() -> datetime:
    day = calendars.previous_session(clock.current_session())
    return datetime.combine(day, time(0, 0), NEW_YORK)


class Command(OperationalCommand):
    help = (
        "Import the IBKR executions since a time as fills (one transaction; an execution already imported is "
        "skipped). Connects with the 'shell' client id. TWS reports executions of the last few days only."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", type=parse_since,
            help="ISO date or date-time, New York unless it names a zone. Default: the start of the previous "
                 "NYSE session.",
        )

    def handle(self, *args, since, **options):
        since = since or previous_session_start()
        try:
            report = sync_fills(since=since, role="shell", triggered_by="command")
        except OperatorError as exc:  # FillImportError: the broker could not be read, or an execution refused
            raise CommandError(str(exc)) from None
        broker = "simulated broker" if report.simulated else "IBKR"
        self.stdout.write(
            f"Executions since {formats.moment(since)} ({broker}): {report.created} created, "
            f"{report.skipped} skipped (already imported), {len(report.unattributed)} unattributed."
        )
        write_fill_details(self.stdout, report)
