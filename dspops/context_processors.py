"""Template context shared by every page."""

from dspops.core.models import BrokerSnapshot


def broker_mode(request):
    """Whether the latest broker data came from the simulator (decided from its account id)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    latest = BrokerSnapshot.objects.order_by("-as_of", "-id").values("simulated", "account", "as_of").first()
    return {"broker_latest": latest, "broker_simulated": bool(latest and latest["simulated"])}
