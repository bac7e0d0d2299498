from pathlib import Path

from django.core.management.base import CommandError

from dspops.core.commands import OperationalCommand
from dspops.core.errors import OperatorError
from sleeves.price_import import import_prices


class Command(OperationalCommand):
    help = (
        "Import daily closes into the price history, in one transaction. Layouts: date,symbol,close; "
        "date,open,high,low,close,volume with --symbol; or date plus one close column per symbol "
        "(e.g. date,vix,vvix). Re-importing updates changed bars and adds nothing twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--symbol", help="The instrument of an OHLCV file, e.g. SPY.")

    def handle(self, *args, file, symbol, **options):
        try:
            report = import_prices(path=file, symbol=symbol)
        except OperatorError as exc:
            raise CommandError(str(exc)) from None
        for sym, (first, last) in sorted(report.by_symbol.items()):
            self.stdout.write(f"{sym}: {first} .. {last}")
        self.stdout.write(
            f"{report.created} bar(s) created, {report.updated} updated, {report.unchanged} unchanged."
        )
