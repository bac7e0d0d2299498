import csv
import json
import sys

from django.core.management.base import CommandError

from dspops.core import vx
from dspops.core.commands import OperationalCommand
from rolls.models import RollCycle
from rolls.roll_calendar import generate_roll_calendar, roll_sessions_before

CSV_HEADER = ["contract_month", "settlement_date", "roll_by", "close", "open_short", "open_long"]


class Command(OperationalCommand):
    help = (
        "Print the VX/VXM roll calendar: for each contract month, its final settlement, the roll-by "
        "session, and the roll (close the expiring front month, open the next as the new short and the "
        "one after as the new long). Dates are computed from the Cboe rule and the CFE calendar."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from-year", type=int, required=True, help="First year (2004-2038).")
        parser.add_argument("--to-year", type=int, required=True, help="Last year (2004-2038).")
        parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
        parser.add_argument("--sessions-before", type=int, default=None,
                            help="N for roll-by (default: the VRP-CS setting roll_sessions_before).")
        parser.add_argument("--save", action="store_true",
                            help="Also store the rows in the roll calendar (hand-entered plans are kept).")

    def handle(self, *args, from_year, to_year, format, sessions_before, save, **options):
        if from_year > to_year:
            raise CommandError(f"--from-year {from_year} is after --to-year {to_year}.", returncode=2)
        # The roll needs the two months after the last one, so 2038 is the last full year.
        for name, year in (("--from-year", from_year), ("--to-year", to_year)):
            if not vx.MIN_YEAR <= year <= vx.MAX_YEAR - 2:
                raise CommandError(
                    f"{name} {year} is outside the supported range {vx.MIN_YEAR}-{vx.MAX_YEAR - 2}.", returncode=2
                )
        if sessions_before is None:
            sessions_before = roll_sessions_before()
        elif not 1 <= sessions_before <= 20:
            raise CommandError(f"--sessions-before {sessions_before} must be between 1 and 20.", returncode=2)

        if save:
            generate_roll_calendar(from_year=from_year, to_year=to_year, sessions_before=sessions_before)
        plans = {
            c.contract_month: c for c in RollCycle.objects.filter(
                contract_month__gte=f"{from_year}-01", contract_month__lte=f"{to_year}-12")
        }
        rows = []
        for year in range(from_year, to_year + 1):
            for month in range(1, 13):
                cm = vx.ContractMonth(year, month)
                dates = vx.contract_dates(cm, sessions_before=sessions_before)
                close, open_short, open_long = vx.roll_plan(cm)
                plan = plans.get(cm.label)
                rows.append({
                    "contract_month": cm.label,
                    "settlement_date": dates.settlement_date.isoformat(),
                    "roll_by": dates.roll_by.isoformat(),
                    "close": close.local_symbol(),
                    "open_short": open_short.local_symbol(),
                    "open_long": open_long.local_symbol(),
                    "planned_roll_by": plan.planned_roll_by.isoformat() if plan and plan.planned_roll_by else None,
                })
        if format == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(CSV_HEADER)
            for row in rows:
                writer.writerow([row[key] for key in CSV_HEADER])
        elif format == "json":
            self.stdout.write(json.dumps({"sessions_before": sessions_before, "contracts": rows}, indent=2))
        else:
            self._table(rows, sessions_before)

    def _table(self, rows, sessions_before):
        self.stdout.write(f"Roll-by = the {sessions_before}th CFE session before final settlement.\n")
        self.stdout.write(f"{'month':<8} {'settles':<12} {'roll-by':<12} {'close':<7} {'open short':<11} "
                          f"{'open long':<10} plan")
        for row in rows:
            note = ""
            if row["planned_roll_by"] and row["planned_roll_by"] != row["roll_by"]:
                note = f"hand plan {row['planned_roll_by']} differs from the rule"
            self.stdout.write(
                f"{row['contract_month']:<8} {row['settlement_date']:<12} {row['roll_by']:<12} {row['close']:<7} "
                f"{row['open_short']:<11} {row['open_long']:<10} {note}".rstrip()
            )
