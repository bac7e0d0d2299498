import time
from decimal import Decimal

from django.core.management.base import CommandError

from dspops.core import formats
from dspops.core.broker_sync import GatewayError, refresh_broker_snapshot
from dspops.core.commands import OperationalCommand
from dspops.core.errors import OperatorError
from sleeves.selectors import watched_instruments


class Command(OperationalCommand):
    help = "Read the broker now (quotes of every watched instrument, positions, account values) and store it."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=0,
                            help="Keep trying for this many seconds while the broker is not up yet.")
        parser.add_argument("--stay", action="store_true",
                            help="After reading, stay idle until stopped (for a Procfile process next to the simulator).")

    def handle(self, *args, wait=0, stay=False, **options):
        deadline = time.monotonic() + wait
        while True:
            try:
                snapshot = refresh_broker_snapshot(instruments=watched_instruments(), role="shell", requested_by="shell")
                break
            except GatewayError as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(f"The broker could not be read; nothing was stored. {exc}", returncode=3) from None
                time.sleep(1)
            except OperatorError as exc:  # not the broker (a setting the watch list needs): waiting will not help
                raise CommandError(f"Nothing was stored. {exc}") from None
        mark = " (SIMULATED BROKER)" if snapshot.simulated else ""
        self.stdout.write(f"{snapshot.account}{mark} at {formats.moment(snapshot.as_of, seconds=True)}: "
                          f"NLV {formats.usd(snapshot.net_liquidation)}, "
                          f"excess liquidity {formats.usd(snapshot.excess_liquidity)}")
        for position in snapshot.positions:
            self.stdout.write(f"  {position['local_symbol']:<8} {formats.quantity(Decimal(position['quantity'])):>8}")
        if stay:
            self.stdout.write("Broker read; idle until stopped.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
