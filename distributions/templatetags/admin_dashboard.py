"""``{% admin_dashboard %}``: the money at a glance on the admin index (``admin/dashboard_index.html``).

Reads through ``distributions.dashboard`` (a fixed number of queries) and turns the result into what the
template shows: amounts with their units, instants in the organization's zone with the zone named, how long
ago or how overdue, links into the admin, and the pool-against-paid chart as plain SVG geometry (no
JavaScript, no CDN). Superusers see every organization's; a member of organizations sees one dashboard per
organization of theirs (``dashboards_for``); staff of no organization see none.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from django import template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince, timeuntil

from clock import iso_utc
from distributions.dashboard import (
    CHART_PERIODS,
    OVERDUE_GRACE,
    STALE_RUN_AFTER,
    Dashboard,
    DistributorSeries,
    dashboard_read,
)
from distributors.units import format_amount
from organizations.admin import staff_access
from organizations.models import Organization, Role

register = template.Library()

REQUIRED_PERMISSIONS = (
    "distributions.view_distribution",
    "distributions.view_enginerun",
    "obligations.view_obligation",
)
ERRORS_SHOWN = 3

# Chart geometry, in SVG user units (the SVG scales to its box).
CHART_WIDTH = 360
CHART_HEIGHT = 150
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 8, 352, 22, 126
MAX_SLOT = 56  # a lone period does not become one wall-to-wall bar
LABEL_WIDTH = 38  # room a "01 Oct" label needs under the bars
MIN_BAR = 1.5  # an amount above zero stays visible however small next to the largest


def local_label(moment: datetime, organization: Organization) -> dict[str, str]:
    """``moment`` in the organization's zone: ``{"text": "Mon 01 Dec 2025, 00:00 CET", "zone": "Europe/Paris",
    "utc": "2025-11-30T23:00:00Z"}`` (``zone`` empty when the abbreviation already is the zone's name)."""
    local = moment.astimezone(organization.tzinfo)
    abbreviation = local.tzname() or ""
    return {
        "text": f"{local:%a %d %b %Y, %H:%M} {abbreviation}".rstrip(),
        "zone": "" if abbreviation == organization.timezone else organization.timezone,
        "utc": iso_utc(moment),
    }


def _ago(moment: datetime, now: datetime) -> str:
    """``"3 minutes ago"``; ``"just now"`` under a minute."""
    if (now - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment, now, depth=2)} ago"


def _admin_url(name: str, *args, query: dict | None = None) -> str:
    url = reverse(f"admin:{name}", args=args)
    return f"{url}?{urlencode(query)}" if query else url


def _present_run(dashboard: Dashboard) -> dict | None:
    last = dashboard.last_run
    if last is None:
        return None
    run = last.run
    errors = [error.get("error", str(error)) if isinstance(error, dict) else str(error) for error in run.errors]
    # Red when it failed; amber while running or when no run started lately (cron stopped?); else green.
    tone = "error" if last.failed else "warning" if run.status == "running" or last.stale else "ok"
    return {
        "pk": run.pk,
        "status": run.status,
        "tone": tone,
        "status_tone": "error" if last.failed else "warning" if run.status == "running" else "ok",
        "stale": last.stale,
        "started": iso_utc(run.started_at),
        "ago": _ago(run.started_at, dashboard.as_of),
        "seconds": (run.finished_at - run.started_at).total_seconds() if run.finished_at else None,
        "as_of": iso_utc(run.as_of),
        "as_of_text": f"{run.as_of.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        "triggered": run.triggered_count,
        "opened": run.opened_count,
        "skipped": run.skipped_count,
        "error_count": run.error_count,
        "errors": errors[:ERRORS_SHOWN],
        "more_errors": max(run.error_count, len(errors)) - min(len(errors), ERRORS_SHOWN),
        "url": _admin_url("distributions_enginerun_change", run.pk),
        "list_url": _admin_url("distributions_enginerun_changelist"),
    }


def _present_overdue(dashboard: Dashboard) -> dict:
    overdue = dashboard.overdue
    items = [
        {
            "distributor": distribution.distributor.name,
            "organization": distribution.organization.name,
            "trigger": local_label(distribution.trigger_date, distribution.organization),
            "overdue_by": timesince(distribution.trigger_date, dashboard.as_of, depth=2),
            "url": _admin_url("distributions_distribution_change", distribution.pk),
        }
        for distribution in overdue.oldest
    ]
    return {
        "count": overdue.count,
        "items": items,
        "oldest": items[0] if items else None,
        "more": overdue.count - len(items),
        "url": _admin_url(
            "distributions_distribution_changelist",
            query={"status__exact": "pending", "trigger_date__lte": iso_utc(overdue.cutoff)},
        ),
    }


def _present_approvals(dashboard: Dashboard) -> dict:
    totals = [
        {
            "units": total.units,
            "count": total.count,
            "amount": format_amount(total.amount, total.units),
            "url": _admin_url(
                "obligations_obligation_changelist", query={"status__exact": "pending", "units": total.units}
            ),
        }
        for total in dashboard.awaiting_approval
    ]
    return {
        "count": sum(total.count for total in dashboard.awaiting_approval),
        "totals": totals,
        "url": _admin_url("obligations_obligation_changelist", query={"status__exact": "pending"}),
    }


def _present_next(dashboard: Dashboard) -> list[dict]:
    return [
        {
            "distributor": distribution.distributor.name,
            "organization": distribution.organization.name,
            "trigger": local_label(distribution.trigger_date, distribution.organization),
            "due": distribution.trigger_date <= dashboard.as_of,
            "in": timeuntil(distribution.trigger_date, dashboard.as_of, depth=2),
            "rolled_over": (
                format_amount(distribution.rolled_over, distribution.distributor.units)
                if distribution.rolled_over
                else ""
            ),
            "url": _admin_url("distributions_distribution_change", distribution.pk),
        }
        for distribution in dashboard.next_triggers
    ]


def _present_disabled_endpoints(dashboard: Dashboard) -> list[dict]:
    return [
        {
            "url": _admin_url("webhooks_webhookendpoint_change", endpoint.pk),
            "endpoint": endpoint.url,
            "organization": endpoint.organization.name,
            "disabled": local_label(endpoint.disabled_at, endpoint.organization),
            "reason": endpoint.disabled_reason,
        }
        for endpoint in dashboard.disabled_endpoints
    ]


def _day(moment: datetime, organization: Organization) -> str:
    return f"{moment.astimezone(organization.tzinfo):%d %b %Y}"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float


def chart_panel(series: DistributorSeries) -> dict:
    """One distributor's pool (wide, light) and paid (narrow, dark) bars per period, oldest on the left, on a
    scale from zero to the largest amount. Slots share the width (at most ``MAX_SLOT`` each); the periods'
    trigger dates label every bar there is room for, counted back from the latest."""
    distributor, periods = series.distributor, series.periods
    organization, units = distributor.organization, distributor.units
    top = max([max(period.pool, period.paid) for period in periods] + [0])
    plot_height = PLOT_BOTTOM - PLOT_TOP
    slot = min((PLOT_RIGHT - PLOT_LEFT) / max(len(periods), 1), MAX_SLOT)
    step = max(1, math.ceil(LABEL_WIDTH / slot))

    def bar(index: int, amount: int, inset: float) -> Bar:
        height = round(max(plot_height * amount / top, MIN_BAR), 2) if top and amount else 0.0
        return Bar(
            x=round(PLOT_LEFT + index * slot + slot * inset, 2),
            y=round(PLOT_BOTTOM - height, 2),
            width=round(slot * (1 - 2 * inset), 2),
            height=height,
        )

    groups = []
    for index, period in enumerate(periods):
        start = local_label(period.period_start, organization)["text"]
        end = local_label(period.trigger_date, organization)["text"]
        labelled = (len(periods) - 1 - index) % step == 0
        groups.append(
            {
                "pool": bar(index, period.pool, 0.1),
                "paid": bar(index, period.paid, 0.3),
                "label": f"{period.trigger_date.astimezone(organization.tzinfo):%d %b}" if labelled else "",
                "label_x": round(PLOT_LEFT + (index + 0.5) * slot, 2),
                "title": (
                    f"{start} – {end}: pool {format_amount(period.pool, units)}, allocated "
                    f"{format_amount(period.allocated, units)}, paid {format_amount(period.paid, units)}"
                ),
            }
        )
    return {
        "distributor": distributor.name,
        "organization": organization.name,
        "units": units,
        "url": _admin_url("distributors_distributor_change", distributor.pk),
        "groups": groups,
        "top": format_amount(top, units),
        "through": _day(periods[-1].trigger_date, organization) if periods else "",
        "total_pool": format_amount(sum(period.pool for period in periods), units),
        "total_paid": format_amount(sum(period.paid for period in periods), units),
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "plot": {"left": PLOT_LEFT, "right": PLOT_RIGHT, "top": PLOT_TOP, "bottom": PLOT_BOTTOM},
    }


def dashboard_context(dashboard: Dashboard) -> dict:
    """What ``admin/distributions/dashboard.html`` renders, from what ``dashboard_read`` returned."""
    return {
        "as_of": iso_utc(dashboard.as_of),
        "organization": dashboard.organization,
        "run": _present_run(dashboard),
        "runs_url": _admin_url("distributions_enginerun_changelist"),
        "overdue": _present_overdue(dashboard),
        "approvals": _present_approvals(dashboard),
        "next_triggers": _present_next(dashboard),
        "disabled_endpoints": _present_disabled_endpoints(dashboard),
        "next_url": _admin_url("distributions_distribution_changelist", query={"status__exact": "pending"}),
        "charts": [chart_panel(series) for series in dashboard.chart],
        "chart_periods": CHART_PERIODS,
        "grace_minutes": int(OVERDUE_GRACE.total_seconds() // 60),
        "stale_minutes": int(STALE_RUN_AFTER.total_seconds() // 60),
    }


def dashboards_for(request, organization: Organization | None = None) -> list[dict]:
    """The dashboards the request's user sees (``organizations.admin``'s rule): a superuser, every organization
    (or ``organization``); a member, one per organization of theirs, the engine runs' error texts withheld (they
    name other organizations' periods; the counts stay); staff of no organization, none. Django's view
    permissions are not what lets a member see their organization's money: their role is."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    access = staff_access(request)
    now = timezone.now()
    if access.superuser:
        if not user.has_perms(REQUIRED_PERMISSIONS):
            return []
        return [dashboard_context(dashboard_read(as_of=now, organization=organization))]
    mine = Organization.objects.filter(pk__in=access.organizations(Role.VIEWER)).order_by("name", "pk")
    if organization is not None:
        mine = mine.filter(pk=organization.pk)
    boards = []
    for own in mine:
        board = dashboard_context(dashboard_read(as_of=now, organization=own))
        if board["run"]:
            board["run"] = {**board["run"], "errors": [], "more_errors": 0}
        boards.append(board)
    return boards


@register.simple_tag(takes_context=True)
def admin_dashboard(context, organization: Organization | None = None) -> str:
    """The dashboards for the request's user (``dashboards_for``), each ``admin/distributions/dashboard.html``."""
    request = context.get("request")
    # Each dashboard is a template rendered with autoescaping: safe to join.
    return mark_safe(
        "".join(
            render_to_string("admin/distributions/dashboard.html", {"show": True, **board}, request=request)
            for board in dashboards_for(request, organization)
        )
    )
