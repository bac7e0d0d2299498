import re
from datetime import timedelta
from pathlib import Path

from django.core.management.base import CommandError

from dspops.core.commands import OperationalCommand
from dspops.core.errors import OperatorError
from dspops.legacy_import import import_legacy


def _utc_offset(text: str) -> timedelta:
    match = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", text.strip())
    if match is None or int(match.group(2)) > 14 or int(match.group(3) or 0) > 59:
        raise CommandError(f"--utc-offset {text!r}: expected a UTC offset such as +02:00 or -05:00.", returncode=2)
    offset = timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
    return -offset if match.group(1) == "-" else offset


def _offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


class Command(OperationalCommand):
    help = (
        "Import the legacy DSP-100K files (paper_trading/, daily_digest/, config/) from DIR. Every file is "
        "checked first; a malformed one is refused with file:line: reason and nothing is written. "
        "Importing the same files again adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path, help="The legacy data folder (holding paper_trading/).")
        parser.add_argument(
            "--utc-offset", default="+02:00",
            help="UTC offset of the host that wrote the naive legacy timestamps (default +02:00; write a negative one as --utc-offset=-05:00).",
        )

    def handle(self, *args, directory: Path, utc_offset: str, **options):
        offset = _utc_offset(utc_offset)
        try:
            report = import_legacy(directory=directory, utc_offset=offset)
        except OperatorError as exc:
            raise CommandError(f"Nothing was imported. {exc}") from None

        self.stdout.write(f"Legacy import from {directory} (timestamps read as UTC{_offset_text(offset)}):")
        for item in report.files:
            if not item.found:
                self.stdout.write(f"  {item.file}: not found, skipped")
                continue
            rows = ", ".join(f"{model} {n}" for model, n in sorted(item.rows.items()))
            self.stdout.write(
                f"  {item.file}: {item.created} created, {item.updated} updated, {item.skipped} skipped"
                + (f" (rows written: {rows})" if rows else "")
            )
            for change in item.changes:
                self.stdout.write(f"      {change}")
        self.stdout.write(
            f"Total: {report.created} created, {report.updated} updated, {report.skipped} skipped; "
            f"{len(report.flags)} flag(s)."
        )
        if report.flags:
            self.stdout.write("Flags:")
            for flag in report.flags:
                self.stdout.write(self.style.WARNING(f"  {flag}"))
