"""The dashboard: members and revenue for a period, with their charts."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask_babel import gettext as _
from markupsafe import Markup

from app.i18n import best_locale
from app.services.reports import dashboard as figures
from app.staff import charts
from app.staff.auth import FINANCE, allow
from app.staff.blueprint import bp
from app.staff.formatting import money, month_name, number
from app.staff.periods import chosen_period, preset_labels


def _dashboard_charts(report: figures.Dashboard) -> dict[str, Any]:
    rtl = best_locale() == "ar"
    labels = [month_name(m.month) for m in report.months]
    flow = charts.bar_chart(
        _("Members joining and leaving, by month"),
        labels,
        [
            charts.Series(_("New"), "s-new", [m.new for m in report.months]),
            charts.Series(_("Reactivated"), "s-back", [m.reactivated for m in report.months]),
            charts.Series(_("Churned"), "s-gone", [m.churned for m in report.months]),
        ],
        lambda v: number(v),
        rtl=rtl,
    )
    revenue: dict[str, Markup] = {}
    for currency in report.currencies:
        values = [report.revenue_by_month.get((m.month, currency), 0) for m in report.months]
        revenue[currency] = charts.bar_chart(
            _("Revenue in %(currency)s, by month", currency=currency.upper()),
            labels,
            [charts.Series(currency.upper(), f"s-{currency}", values)],
            lambda v, c=currency: money(v, c),  # type: ignore[misc]
            rtl=rtl,
        )
    return {"flow": flow, "revenue": revenue}


@bp.get("/")
@allow(FINANCE)
def dashboard() -> Any:
    period = chosen_period()
    report = figures.dashboard(period)
    return render_template(
        "staff/dashboard.html",
        report=report,
        period=period,
        charts=_dashboard_charts(report),
        presets=preset_labels(),
        no_campaign=figures.NO_CAMPAIGN,
    )
