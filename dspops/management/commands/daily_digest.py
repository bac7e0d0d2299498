from datetime import date

from django.core.management.base import CommandError

from digests.services import DigestError, NotASessionError, generate_digest, live_session
from dspops.core.commands import OperationalCommand
from dspops.core.errors import OperatorError
from dspops.core import clock
from dspops.core.models import Alert, Severity
from dspops.jobs import live_digest


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--date {text!r} is not a date: use YYYY-MM-DD.", returncode=2) from None


class Command(OperationalCommand):
    help = (
        "The daily digest: evaluate the alerts, render the day's digest from stored data (with --live, first "
        "read the broker and run the VRP monitors live, on one connection), keep it in the database and write "
        "DIGEST_DIR/digest_YYYY-MM-DD.md. Running it again replaces that day's digest. Exit 2 on a usage error: "
        "a date that is not an NYSE session, or --live with a --date other than the current session."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="The trading date, YYYY-MM-DD (default: the current NYSE session: "
                                           "today's, or on a closed day the last one).")
        parser.add_argument("--live", action="store_true", help="Read the broker first (current session only).")
        parser.add_argument("--no-write", action="store_true", help="Store the digest but write no file.")

    def handle(self, *args, **o):
        trading_date = _date(o["date"]) if o["date"] else None
        if o["live"]:
            # --live with a past (or future) --date is a combination of options that cannot be run: a usage
            # error (exit 2, like every command), said before the broker is read.
            try:
                live_session(trading_date=trading_date)
            except (NotASessionError, DigestError) as exc:
                raise CommandError(str(exc), returncode=2) from None
        acting = clock.acting_session()
        if trading_date is None and not acting.market_open_today:
            self.stdout.write(f"Digest for {acting.label()}.")
        try:
            if o["live"]:
                digest = live_digest(trading_date=trading_date, write_file=not o["no_write"], triggered_by="command")
            else:
                digest = generate_digest(trading_date=trading_date, write_file=not o["no_write"],
                                         triggered_by="command")
        except NotASessionError as exc:
            raise CommandError(str(exc), returncode=2) from None
        except OperatorError as exc:  # DigestError, the broker, a setting
            raise CommandError(str(exc)) from None

        banner = " — SIMULATED BROKER" if digest.simulated else ""
        if digest.file_path:
            self.stdout.write(f"Digest {digest.trading_date}{banner}: {digest.file_path}")
        else:
            self.stdout.write(f"Digest {digest.trading_date}{banner}: stored in the database (no file: --no-write)")
        if digest.note:
            self.stdout.write(f"  {digest.note}")
        open_alerts = Alert.objects.filter(resolved_at__isnull=True)
        counts = {severity: open_alerts.filter(severity=severity).count() for severity in Severity.values}
        total = sum(counts.values())
        detail = ", ".join(f"{n} {severity}" for severity, n in counts.items() if n)
        self.stdout.write(f"Alerts: {total}" + (f" ({detail})" if detail else ""))
