"""django-q2 tasks for the digest and the weekly review: one-line wrappers, guarded by the NYSE calendar."""

from __future__ import annotations

from sleeves.tasks import market_closed


def daily_digest_task(by_person: bool = False) -> str:
    """16:30 New York: the live digest. A broker that cannot be reached degrades it to stored data.

    From a dashboard button (``by_person``) on a closed day it is the last session's digest, and says so.
    """
    skipped = market_closed("digest", by_person=by_person)
    if skipped:
        return skipped
    from dspops.core.models import Alert
    from digests.services import generate_digest
    from dspops.core import clock

    acting = clock.acting_session()
    digest = generate_digest(trading_date=acting.session, live=True, role="worker",
                             triggered_by="dashboard" if by_person else "task")
    open_alerts = Alert.objects.filter(resolved_at__isnull=True).count()
    simulated = " (SIMULATED BROKER)" if digest.simulated else ""
    return f"digest for {acting.label()}{simulated}: {digest.file_path}; {open_alerts} open alert(s)"


def weekly_review_task() -> str:
    """Friday 15:00 New York: the week's review, stored as a weekly_review run."""
    skipped = market_closed("weekly_review")
    if skipped:
        return skipped
    from dspops.core import clock
    from digests.services import generate_weekly_review

    week_ending = clock.trading_date()
    generate_weekly_review(week_ending=week_ending, triggered_by="task")
    return f"weekly review for the week ending {week_ending} stored"
