"""dm_rebalance {plan,run}: the DM sleeve's monthly rebalance plan. No order is ever sent."""

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.core.management.base import CommandError

from dspops.core import formats
from dspops.core.commands import OperationalCommand
from dspops.core.errors import OperatorError
from sleeves.dm_service import DmConfigError, plan_dm_rebalance
from sleeves.management.commands._monitor_output import session_label
from sleeves.strategies import plain

OK, INTERNAL_ERROR, USAGE_ERROR, DATA_UNAVAILABLE = 0, 1, 2, 3


class Command(OperationalCommand):
    help = (
        "Plan the DM (ETF dual momentum) rebalance: momentum, selection, vol-scaled weights, share targets "
        "and tickets. 'plan' stores the run; 'run' also adopts it as the month's target (running it again "
        "in the same month replaces it). No order is ever sent. Settings come from the database unless "
        "--config names a legacy-layout yaml; DSP_RISK_SCALE overrides risk_scale. Exit codes: 0 complete "
        "data, 3 data unavailable (the run is stored with the reason), 2 usage error, 1 internal error."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["plan", "run"],
                            help="plan: store the plan; run: store it and adopt it as the month's target.")
        parser.add_argument("-c", "--config", type=Path, metavar="PATH",
                            help="A dsp100k_etf_dual_momentum.yaml whose DM values replace the stored settings.")
        parser.add_argument("--strict", action="store_true",
                            help="Refuse a config file with unknown sections or keys (each is named).")
        parser.add_argument("--as-of", metavar="YYYY-MM-DD",
                            help="The NYSE session to plan (default: the current session).")
        parser.add_argument("--live", action="store_true",
                            help="Read daily closes, quotes and NLV from IBKR first (current session only).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of the report.")

    def handle(self, *args, action, **options):
        session = _session_arg(options["as_of"])
        try:
            outcome = plan_dm_rebalance(
                session=session, live=options["live"], config_path=options["config"], strict=options["strict"],
                store_target=action == "run", triggered_by="command", role="shell",
            )
        except DmConfigError as exc:
            raise CommandError("The DM config file cannot be used:\n" + "\n".join(exc.problems),
                               returncode=USAGE_ERROR) from None
        except OperatorError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        except Exception as exc:
            raise CommandError(
                f"internal error while planning DM: {type(exc).__name__}: {exc}. Nothing was stored; "
                "run again with --traceback and report it.", returncode=INTERNAL_ERROR,
            ) from exc

        if options["json"]:
            self.stdout.write(json.dumps(outcome.as_json(), indent=2))
        else:
            for line in report_lines(outcome, action=action):
                self.stdout.write(line)
        if not outcome.ok:
            missing = outcome.run.reason.replace("\n", "; ")
            raise CommandError(f"DATA UNAVAILABLE: {missing} (stored as run {outcome.run.pk}; no target, "
                               "no tickets)", returncode=DATA_UNAVAILABLE)


def _session_arg(text):
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"--as-of {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-02-02.",
                           returncode=USAGE_ERROR) from None


def report_lines(outcome, *, action: str):
    """The readable report, line by line."""
    out = outcome.as_json()
    plan, settings, inputs = outcome.plan, outcome.settings, outcome.run.inputs
    banner = " — SIMULATED BROKER" if outcome.simulated else ""
    yield f"DM rebalance {action} for {session_label(outcome.session.isoformat())}{banner}"
    yield f"  data: {'OK' if outcome.ok else 'DATA UNAVAILABLE'}"
    yield (f"  first NYSE session of the month: {'yes' if outcome.first_session_of_month else 'no'}"
           f" (next: {out['next_rebalance']})")
    origin = outcome.sources.get("settings", {})
    yield f"  settings: {'file ' + origin['path'] if origin.get('source') == 'file' else 'database'}"
    yield (f"  NAV {formats.usd(plan.nav_usd)} = NLV {formats.usd(_dec(inputs['nlv']))}"
           f" x {plain(settings.nav_fraction)} x risk scale {formats.decimal(_dec(inputs['risk_scale']))}"
           f" x vol overlay {formats.decimal(_dec(inputs['vol_multiplier']))}")
    yield ""
    yield (f"Momentum ({settings.momentum_window_days} closes, skipping the last "
           f"{settings.momentum_skip_days}); vol over {settings.vol_lookback_days} returns:")
    yield f"  {'symbol':<7}{'momentum':>10}{'vol':>9}  {'held':>6}{'target':>8}{'delta':>7}  selected"
    for line in plan.lines:
        yield (f"  {line.symbol:<7}{_pct(line.momentum):>10}{_pct(line.asset_vol):>9}  "
               f"{formats.quantity(line.current_shares):>6}{formats.quantity(line.target_shares):>8}"
               f"{formats.quantity(line.delta_shares, with_sign=True):>7}  {'yes' if line.selected else ''}")
    yield ""
    if not outcome.ok:
        yield "Selected: not decided (data unavailable)"
    elif plan.all_cash:
        yield f"Selected: none — 100% {settings.cash_symbol}"
    else:
        yield (f"Selected: {', '.join(plan.selected)} (portfolio vol {_pct(plan.portfolio_vol)}, "
               f"scale x{plain(plan.vol_scale)})")
    if outcome.ok:
        weights = [f"{s} {_pct(_dec(w))}" for s, w in out["weights"].items() if _dec(w)]
        yield f"Vol-scaled weights: {', '.join(weights)}"
        targets = [f"{s} {n}" for s, n in out["target_shares"].items() if n]
        yield f"Targets (shares): {', '.join(targets) or 'none'}"
        yield "Tickets (no order is sent; trade them in TWS and record the fills):"
        for t in plan.tickets:
            yield (f"  {t.side:<4} {formats.quantity(t.quantity):>6} {t.symbol:<5} @ {formats.price(t.price)} "
                   f"({formats.usd(t.notional_usd)})")
        if not plan.tickets:
            yield "  none"
        for d in plan.dropped:
            yield (f"dropped: {d.symbol} {d.side} {formats.quantity(d.quantity)} ({formats.usd(d.notional_usd)}) "
                   f"below {formats.usd(settings.min_order_notional)}")
        yield f"Turnover: {formats.percent(plan.estimated_turnover_pct)}"
        if outcome.target is not None:
            yield f"Adopted as the {outcome.target.month} target."
    yield ""
    yield "Reasons:"
    for reason in outcome.reasons:
        yield f"  - {reason}"
    yield "Sources:"
    for line in _source_lines(outcome.sources):
        yield f"  {line}"
    yield f"Stored as run {outcome.run.pk}."


def _source_lines(sources):
    nlv = sources.get("nlv")
    if nlv:
        yield f"NLV: {nlv.get('source')} as of {_when(nlv.get('as_of'))}"
    vol = sources.get("vol_multiplier")
    if vol:
        yield f"vol multiplier: {vol.get('source') or formats.MISSING} as of {_when(vol.get('as_of'))}"
    risk = sources.get("risk_scale", {})
    yield f"risk scale: {risk.get('source')}"
    for name in ("prices", "closes"):
        by_source = {}
        for symbol, entry in sorted(sources.get(name, {}).items()):
            by_source.setdefault((entry.get("source"), _when(entry.get("as_of"))), []).append(symbol)
        for (source, as_of), symbols in by_source.items():
            yield f"{name}: {source} as of {as_of} ({', '.join(symbols)})"
    shares = sources.get("current_shares")
    if shares:
        yield f"current shares: DM's recorded fills before {_when(shares['before'])}"


def _when(text):
    """A stored as-of for the report: a session as it is, a time in New York to the second (ET)."""
    if not text:
        return formats.MISSING
    if len(text) == 10:
        return text
    try:
        return formats.moment(datetime.fromisoformat(text), seconds=True)
    except ValueError:  # not an ISO time with its offset (an older or hand-edited run): shown as stored
        return text


def _dec(text):
    return None if text is None else Decimal(text)


def _pct(fraction):
    """A momentum or volatility, stored as a fraction: 0.092 -> 9.20%."""
    return formats.percent(fraction, fraction=True)
