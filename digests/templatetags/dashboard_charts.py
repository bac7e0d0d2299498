"""``{% chart_url "vol" %}``: a dashboard chart's address naming its current data version (digests.charts).

The address names one picture for ever, so the chart view answers it from the charts cache without working
out the version again, and a browser may keep it; the next change of the data gives the page a new address.
Working out a version costs a few bounded queries (no drawing): the page's cost does not grow with history.
"""

import logging

from django import template
from django.urls import reverse
from django.utils.http import urlencode

from digests import charts

register = template.Library()
log = logging.getLogger(__name__)


@register.simple_tag
def chart_url(name: str) -> str:
    """The versioned address; when the version cannot be worked out, the plain one (the chart view draws it or
    fails alone), so one chart's data never takes the whole dashboard down."""
    address = reverse("admin:dashboard_chart", args=[name])
    try:
        version = charts.current(name).version
    except Exception:
        log.exception("chart %s: its data version could not be worked out; the page links it unversioned", name)
        return address
    return f"{address}?{urlencode({'v': version})}"
