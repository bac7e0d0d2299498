"""``{% chart_url "vol" %}``: a dashboard chart's address naming its current data version (digests.charts).

The address names one picture for ever, so the chart view answers it from the charts cache without working
out the version again, and a browser may keep it; the next change of the data gives the page a new address.
Working out a version costs a few bounded queries (no drawing): the page's cost does not grow with history.
"""

from django import template
from django.urls import reverse
from django.utils.http import urlencode

from digests import charts

register = template.Library()


@register.simple_tag
def chart_url(name: str) -> str:
    return f"{reverse('admin:dashboard_chart', args=[name])}?{urlencode({'v': charts.current(name).version})}"
