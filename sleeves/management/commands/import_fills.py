from pathlib import Path

from django.core.management.base import CommandError

from dspops.core.commands import OperationalCommand
from dspops.core.errors import OperatorError
from sleeves.fill_import import import_flex
from sleeves.management.commands._fill_output import write_fill_details


class Command(OperationalCommand):
    help = (
        "Import an IBKR Flex trade report (XML or CSV, execution level) as fills, in one transaction. "
        "A bad row refuses the whole file; executions already imported are skipped. Flex times are "
        "taken as New York time."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file, **options):
        try:
            report = import_flex(path=file)
        except OperatorError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{file}: {report.created} created, {report.skipped} skipped (already imported), "
            f"{len(report.unattributed)} unattributed"
            + (f", {report.ignored} non-execution row(s) ignored." if report.ignored else ".")
        )
        write_fill_details(self.stdout, report)
