"""Shared printing for the monitor commands: JSON or a readable report, and the exit code.

The payload holds decimals as text (it is also the JSON output); the readable report turns them back
into numbers and shows them through dspops.core.formats, like every page and digest.
"""

import argparse
import json
from decimal import Decimal, InvalidOperation

from django.core.management.base import CommandError

from dspops.core import clock, formats
from sleeves.monitors import EXIT_DATA_UNAVAILABLE, EXIT_POSITION_MISMATCH


def finish(command, outcome, *, as_json: bool, lines) -> None:
    if as_json:
        command.stdout.write(json.dumps(outcome.payload, indent=2, sort_keys=False))
    else:
        for line in lines(outcome.payload):
            command.stdout.write(line)
    recorded = " (the run was recorded)" if outcome.run else ""
    if outcome.exit_code == EXIT_POSITION_MISMATCH:
        mismatch = [r for r in outcome.payload.get("reasons", []) if r.startswith("POSITION MISMATCH")]
        raise CommandError((mismatch[0] if mismatch else "POSITION MISMATCH") + recorded,
                           returncode=EXIT_POSITION_MISMATCH)
    if outcome.exit_code == EXIT_DATA_UNAVAILABLE:
        missing = [r for r in outcome.payload.get("reasons", []) if r]
        raise CommandError("DATA UNAVAILABLE: " + ("; ".join(missing) or "an input was missing") + recorded,
                           returncode=EXIT_DATA_UNAVAILABLE)


def decimal_arg(text):
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def banner(payload) -> str:
    return " — SIMULATED BROKER" if payload.get("simulated") else ""


def session_label(session) -> str:
    """The run's session, saying so when it is not today (a closed day acts on the last session)."""
    acting = clock.acting_session()
    return f"{session}{acting.note}" if str(session) == acting.session.isoformat() else str(session)


def number(text) -> Decimal | None:
    """A payload number (text, an int or None) as a Decimal for the formats module."""
    return None if text is None else Decimal(str(text))


def value(x, missing=formats.MISSING):
    return missing if x is None else x
