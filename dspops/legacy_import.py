"""Import the files of the legacy DSP-100K scripts (LEGACY.md) into dspops.

Two steps. First every file is parsed and checked by dspops.legacy.parsers, which touches no
database; a malformed file raises ``LegacyImportError("file:line: reason")`` and nothing at all is
written. Then dspops.legacy.writers writes everything in one transaction. Importing the same
files again adds nothing: log rows and order records carry an ``import_key``, everything else is
matched on its natural key.

What the legacy files got wrong is kept as it was logged, and flagged: on the stored row
(``flags``) and in the report. The bounds on the files and their values are the parsers'.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from dspops.legacy import writers
from dspops.legacy.parsers import FileReport, Flag, ImportReport, LegacyImportError, parse_directory

__all__ = ["FileReport", "Flag", "ImportReport", "LegacyImportError", "import_legacy"]


def import_legacy(
    *, directory: Path, utc_offset: timedelta = timedelta(hours=2), user=None, now: datetime | None = None
) -> ImportReport:
    """Import the legacy files under ``directory`` (the folder holding paper_trading/,
    daily_digest/ and config/). Timestamps in the files are naive host-local times at
    ``utc_offset`` from UTC. ``user`` is recorded in the history of the rows that keep one.

    Raises LegacyImportError (nothing written) for a malformed file, an empty directory or
    missing sleeves.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise LegacyImportError(f"{directory}: no such directory; give the folder that holds paper_trading/.")
    if not timedelta(hours=-14) <= utc_offset <= timedelta(hours=14):
        raise LegacyImportError(f"UTC offset {utc_offset} is not a real time zone offset (-14:00 .. +14:00).")
    now = now or timezone.now()

    report = ImportReport(directory=directory, utc_offset=utc_offset)
    sleeves, sessions_before = writers.ready()
    parsed = parse_directory(directory, utc_offset=utc_offset, sessions_before=sessions_before, report=report)
    with transaction.atomic():
        writers.write_position(parsed, report, sleeves=sleeves, user=user, now=now)
        writers.write_cs_log(parsed, report, sleeves=sleeves, user=user, now=now)
        writers.write_erp_log(parsed, report, sleeves=sleeves)
        writers.write_trades(parsed, report, sleeves=sleeves, now=now)
        writers.write_erp_state(parsed, report, sleeves=sleeves, user=user)
        writers.write_digests(parsed, report)
        writers.write_dm_settings(parsed, report, sleeves=sleeves, user=user)
    report.flags[:0] = parsed.file_flags
    return report
