from django.core.management.base import BaseCommand, CommandError

from dspops.broker_sync import GatewayError, refresh_broker_snapshot


class Command(BaseCommand):
    help = "Read the broker now (quotes of every watched instrument, positions, account values) and store it."

    def handle(self, *args, **options):
        try:
            snapshot = refresh_broker_snapshot(role="shell", requested_by="shell")
        except GatewayError as exc:
            raise CommandError(f"The broker could not be read; nothing was stored. {exc}", returncode=3) from None
        mark = " (SIMULATED BROKER)" if snapshot.simulated else ""
        self.stdout.write(f"{snapshot.account}{mark} at {snapshot.as_of:%Y-%m-%d %H:%M:%S %Z}: "
                          f"NLV {snapshot.net_liquidation}, excess liquidity {snapshot.excess_liquidity}")
        for position in snapshot.positions:
            self.stdout.write(f"  {position['local_symbol']:<8} {position['quantity']:>8}")
