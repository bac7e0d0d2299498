"""export_logs DIR: the VRP-CS and VRP-ERP logs as CSV files in the legacy layouts."""

import csv
import os
import tempfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.core.management.base import CommandError

from dspops.core.calendars import NEW_YORK
from dspops.core.commands import OperationalCommand
from sleeves.models import VrpCsLogEntry, VrpErpLogEntry

# LEGACY.md 2.9 (daily_log.csv) and 1.5 (vrp_erp_log.csv): the same names, in the same order.
CS_COLUMNS = (
    "date", "time", "vix", "vx1", "vx2", "spread", "entry_spread", "pnl_usd", "gate_state", "gate_score",
    "contango_pct", "days_to_roll", "roll_by", "stop_loss_level", "take_profit_level", "stop_loss_hit",
    "take_profit_hit", "notes",
)
ERP_COLUMNS = (
    "date", "time", "vix", "spy_price", "regime", "target_shares", "actual_shares", "actual_exposure_usd",
    "avg_cost", "fill_price", "drift_pct", "rebalance_signal", "action_taken", "notes",
)
# Decimal places per column, as the legacy scripts wrote them (gate_score 0.546, contango_pct 5.30).
PLACES = {"gate_score": 3}
TEXT = {"gate_state", "regime", "action_taken", "notes"}
WHOLE = {"days_to_roll", "target_shares", "actual_shares"}
BOOLEAN = {"stop_loss_hit", "take_profit_hit", "rebalance_signal"}


class Command(OperationalCommand):
    help = (
        "Write DIR/daily_log.csv (VRP-CS) and DIR/vrp_erp_log.csv (VRP-ERP) from the stored logs, oldest first, "
        "in the legacy column layouts. The date and time columns are New York time (the legacy files used "
        "the host's local time). Missing values are empty cells, booleans True/False, prices with 2 decimals, "
        "drift as 100.00%. Each file is replaced atomically. DIR must already exist."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path, metavar="DIR", help="An existing folder to write the files to.")

    def handle(self, *args, directory: Path, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory} is not an existing directory; create it first or give another one. "
                               "Nothing was written.")
        exports = (
            ("daily_log.csv", CS_COLUMNS, VrpCsLogEntry.objects.order_by("logged_at", "id")),
            ("vrp_erp_log.csv", ERP_COLUMNS, VrpErpLogEntry.objects.order_by("logged_at", "id")),
        )
        for name, columns, entries in exports:
            path = directory / name
            try:
                count = write_atomically(path, columns, (legacy_row(entry, columns) for entry in entries))
            except OSError as exc:
                raise CommandError(f"{path} could not be written ({exc.strerror or exc}); "
                                   "the previous file, if any, is unchanged.") from None
            self.stdout.write(f"{path}: {count} row(s)")


def legacy_row(entry, columns) -> list[str]:
    """One log entry as the legacy CSV cells."""
    logged = entry.logged_at.astimezone(NEW_YORK)
    cells = []
    for column in columns:
        if column == "date":
            cells.append(logged.strftime("%Y-%m-%d"))
        elif column == "time":
            cells.append(logged.strftime("%H:%M:%S"))
        else:
            cells.append(cell(column, getattr(entry, column)))
    return cells


def cell(column: str, value) -> str:
    if value is None:
        return ""
    if column in BOOLEAN:
        return "True" if value else "False"
    if column in TEXT or column in WHOLE:
        return str(value)
    if column == "roll_by":
        return value.isoformat()
    if not isinstance(value, Decimal) or not value.is_finite():
        return ""
    places = PLACES.get(column, 2)
    text = format(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")
    return f"{text}%" if column == "drift_pct" else text


def write_atomically(path: Path, columns, rows) -> int:
    """Write the CSV to a temporary file beside ``path``, then rename it over ``path``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    count = 0
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")  # the legacy files end lines with \n
            writer.writerow(columns)
            for row in rows:
                writer.writerow(row)
                count += 1
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return count
