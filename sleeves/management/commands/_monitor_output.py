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
        missing = reasons_once(outcome.payload.get("reasons", []))
        if not as_json and missing:
            # The report above listed every reason: the last line names the verdict, not them again.
            count = f"{len(missing)} reasons" if len(missing) > 1 else "the reason"
            raise CommandError(f"DATA UNAVAILABLE: {count} above{recorded}", returncode=EXIT_DATA_UNAVAILABLE)
        raise CommandError("DATA UNAVAILABLE: " + ("; ".join(missing) or "an input was missing") + recorded,
                           returncode=EXIT_DATA_UNAVAILABLE)


_BROKER_DOWN = "broker unavailable ("


def _broker_failures(reason: str) -> tuple[str, list[str]]:
    """``reason`` with each "broker unavailable (why)" cut to "broker unavailable", and the whys. The why is
    the gateway's sentence, which has parentheses of its own, so its end is found by counting them."""
    whys: list[str] = []
    kept: list[str] = []
    rest = reason
    while (start := rest.find(_BROKER_DOWN)) >= 0:
        depth, end = 1, start + len(_BROKER_DOWN)
        while end < len(rest) and depth:
            depth += {"(": 1, ")": -1}.get(rest[end], 0)
            end += 1
        if depth:  # unbalanced: leave the text as it is
            break
        whys.append(rest[start + len(_BROKER_DOWN):end - 1])
        kept.append(rest[:start] + "broker unavailable")
        rest = rest[end:]
    return "".join(kept) + rest, whys


def reasons_once(reasons) -> list[str]:
    """The run's reasons for an operator, each said once.

    A broker that cannot be reached makes every live input missing with the same reason, and the gateway's
    advice inside it ("Is TWS/IB Gateway running ...?") then appeared once per input and again in the last
    line. Here it is said once, first, naming the inputs it took ("the broker could not be reached (vix,
    vvix, positions): why"); a reason that mentioned it in passing keeps "broker unavailable" without the
    advice, and a reason said twice is kept once. The stored run keeps its reason as it was.
    """
    whys: dict[str, list[str]] = {}
    rest: list[str] = []
    for reason in reasons:
        if not reason:
            continue
        text, found = _broker_failures(reason)
        for why in found:
            whys.setdefault(why, [])
        name, colon, tail = text.partition(": ")
        if found and colon and tail == "broker unavailable" and len(found) == 1:
            whys[found[0]].append(name)  # "vix: broker unavailable (why)": said by the line for its why
            continue
        rest.append(text)
    said = [f"the broker could not be reached ({', '.join(names)}): {why}" if names
            else f"the broker could not be reached: {why}" for why, names in whys.items()]
    return _per_input_once(list(dict.fromkeys(said + rest)))


def _per_input_once(reasons: list[str]) -> list[str]:
    """ "vx1: why" and "vx2: why" are one line "vx1, vx2: why"; and none when "why" is a reason of its own
    (the run's "missing ..." line already names the inputs it took)."""
    standalone = set(reasons)
    names: dict[str, list[str]] = {}
    for reason in reasons:
        name, colon, why = reason.partition(": ")
        if colon and why and name.replace(" ", "_").isidentifier():
            names.setdefault(why, []).append(name)
    out: list[str] = []
    for reason in reasons:
        name, colon, why = reason.partition(": ")
        if not (colon and why in names and name in names[why]):
            out.append(reason)
        elif why in standalone:
            continue
        elif len(names[why]) == 1:
            out.append(reason)
        elif name == names[why][0]:
            out.append(f"{', '.join(names[why])}: {why}")
    return out


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
