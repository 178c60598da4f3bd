"""/staff: sign-in with two-factor, dashboard, supporters, exports, reconciliation, staff, audit.

Views parse input, call one service function and render or redirect; the
commit is here.  Who may open each view is declared with ``@allow`` and
enforced in ``before_request`` (see ``app/staff/auth.py``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from babel.dates import format_datetime
from babel.numbers import format_currency, format_percent, get_currency_precision
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from markupsafe import Markup

from app.extensions import db
from app.i18n import LOCALES, best_locale, format_month, format_number, localize_digits, numbering_system
from app.models import (
    AuditEntry,
    EmailLog,
    Membership,
    Payment,
    StaffRole,
    StaffUser,
    Supporter,
    WebhookEvent,
)
from app.services import audit, reconciliation, reports, staff_actions
from app.services.errors import DomainError
from app.services.reports import Period
from app.services.staff import accounts, two_factor
from app.services.staff import sign_in as staff_sign_in
from app.services.stripe_gateway import get_gateway
from app.staff import auth, charts, csv_export, text
from app.staff.auth import PENDING, PUBLIC, allow, current_staff

bp = Blueprint("staff", __name__, url_prefix="/staff")

MAX_DAYS = 3660
FINANCE, ADMIN = StaffRole.FINANCE, StaffRole.ADMIN


# -- every request -------------------------------------------------------------------------


@bp.before_request
def choose_language_and_check_access() -> Any:
    lang = request.args.get("lang")
    if lang in LOCALES:
        session[auth.LANG_KEY] = lang
    chosen = session.get(auth.LANG_KEY)
    g.lang = chosen if chosen in LOCALES else best_locale()

    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return None  # no such page: 404 follows
    access = auth.access_of(view)
    if access is None:
        abort(403)  # a view that does not say who may open it is open to no one
    if access == PUBLIC:
        return None
    if access == PENDING:
        if auth.pending_user() is None:
            return redirect(url_for("staff.sign_in"))
        return None
    user = current_staff()
    if user is None:
        if g.get("staff_expired"):
            flash(str(text.ERRORS["session_expired"]), "error")
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("staff.sign_in", next=target))
    if not user.may(StaffRole(access)):
        abort(403)
    return None


@bp.after_request
def no_caching(response: Response) -> Response:
    # Supporters' data: never kept by a browser or proxy, never framed.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.errorhandler(403)
def forbidden(exc: Exception) -> tuple[str, int]:
    return render_template("staff/forbidden.html"), 403


# -- formatting for the templates -----------------------------------------------------------


def money(amount: int | None, currency: str) -> str:
    """Minor units of any ISO currency, as the page's language writes money."""
    if amount is None:
        return ""
    code = currency.upper()
    value = Decimal(int(amount)).scaleb(-get_currency_precision(code))
    locale = best_locale()
    formatted = format_currency(value, code, locale=locale, numbering_system=numbering_system(locale))
    # Keep "US$" together inside Arabic text (see app/i18n.format_money).
    return localize_digits(formatted + "\u200e" if locale == "ar" else formatted)


def number(value: int | float) -> str:
    return format_number(value)


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return localize_digits(
        format_percent(value, "#,##0.0%", locale=best_locale(), numbering_system=numbering_system())
    )


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    moment = format_datetime(value, "d MMM y, HH:mm", tzinfo=UTC, locale=best_locale())
    return localize_digits(_("%(moment)s UTC", moment=moment))


def day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    from babel.dates import format_date

    return localize_digits(format_date(value, "medium", locale=best_locale()))


def month_name(month: tuple[int, int]) -> str:
    return format_month(month[0], month[1])


def _other_language_url() -> str:
    other = "en" if best_locale() == "ar" else "ar"
    args: dict[str, Any] = {**request.args.to_dict(), **(request.view_args or {}), "lang": other}
    if request.endpoint and request.method == "GET":
        return url_for(request.endpoint, **args)
    return url_for("staff.dashboard", lang=other)


@bp.context_processor
def staff_helpers() -> dict[str, Any]:
    return {
        "staff": g.get("staff_user"),
        "money": money,
        "number": number,
        "percent": percent,
        "when": when,
        "day": day,
        "month_name": month_name,
        "label": text.label,
        "text": text,
        "other_language_url": _other_language_url,
        "ROLE_ADMIN": ADMIN,
        "major": _major,
    }


# -- signing in ----------------------------------------------------------------------------


def _ip() -> str | None:
    return request.remote_addr


def _safe_next(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/staff") and "\\" not in target:
            return target
    return url_for("staff.dashboard")


def _auth_error(exc: accounts.StaffAuthError) -> tuple[str, int]:
    window = max(1, round(staff_sign_in.lock_window().total_seconds() / 60))
    if exc.code == "locked":
        until = datetime.fromisoformat(exc.detail) if exc.detail else None
        minutes = max(1, int(((until - datetime.now(UTC)).total_seconds() + 59) // 60)) if until else window
        return str(text.ERRORS["locked"]) % {"minutes": number(minutes)}, 429
    if exc.code == "rate_limited":
        return str(text.ERRORS["rate_limited"]) % {"minutes": number(window)}, 429
    return str(text.ERRORS.get(exc.code, text.ERRORS["bad_credentials"])), 401


@bp.route("/sign-in", methods=["GET", "POST"])
@allow(PUBLIC)
def sign_in() -> Any:
    if request.method == "GET" and current_staff() is not None:
        return redirect(url_for("staff.dashboard"))
    next_url = request.values.get("next", "")
    if request.method == "GET":
        return render_template("staff/sign_in.html", next_url=next_url, email="")
    email = request.form.get("email", "")
    try:
        user = staff_sign_in.check_password(email, request.form.get("password", ""), _ip())
    except accounts.StaffAuthError as exc:
        db.session.commit()  # the refused try counts
        message, status = _auth_error(exc)
        return render_template("staff/sign_in.html", error=message, next_url=next_url, email=email), status
    if user.has_two_factor:
        auth.start_pending(user, next_url=next_url)
        db.session.commit()
        return redirect(url_for("staff.sign_in_code"))
    if user.needs_two_factor:  # an admin without a second factor enrols now
        auth.start_pending(user, enrol_secret=two_factor.new_secret(), next_url=next_url)
        db.session.commit()
        return redirect(url_for("staff.sign_in_enrol"))
    staff_sign_in.signed_in(user, _ip())
    db.session.commit()
    auth.start_session(user)
    return redirect(_safe_next(next_url))


#: A sign-in with a recovery code that leaves this many or fewer says so as a warning.
RECOVERY_LOW = 3


def _finish_sign_in(user: StaffUser, recovery_codes: list[str] | None = None) -> Any:
    next_url = _safe_next((session.get(auth.PENDING_KEY) or {}).get("next"))
    staff_sign_in.signed_in(user, _ip())
    db.session.commit()
    auth.start_session(user)
    if recovery_codes:
        return _show_recovery_codes(recovery_codes, next_url)
    return redirect(next_url)


def _show_recovery_codes(codes: list[str], continue_url: str) -> Any:
    """The only time the codes are seen: this response (never cached, see ``no_caching``)."""
    g.staff_user = current_staff()
    return render_template("staff/recovery_codes.html", codes=codes, continue_url=continue_url)


@bp.route("/sign-in/code", methods=["GET", "POST"])
@allow(PENDING)
def sign_in_code() -> Any:
    user = auth.pending_user()
    assert user is not None  # before_request checked
    if request.method == "GET":
        return render_template("staff/sign_in_code.html")
    try:
        left = two_factor.check_code(user, request.form.get("code", ""), _ip(), recovery=True)
    except accounts.StaffAuthError as exc:
        db.session.commit()
        message, status = _auth_error(exc)
        return render_template("staff/sign_in_code.html", error=message), status
    if left is not None:
        flash(text.recovery_codes_left(left), "error" if left <= RECOVERY_LOW else "info")
    return _finish_sign_in(user)


def _enrolment(email: str, secret: str) -> dict[str, str]:
    issuer = str(current_app.config.get("NEWSROOM_NAME", "Newsroom"))
    return {
        "secret": secret,
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": two_factor.provisioning_uri(email, secret, issuer),
    }


@bp.route("/sign-in/enrol", methods=["GET", "POST"])
@allow(PENDING)
def sign_in_enrol() -> Any:
    user = auth.pending_user()
    secret = auth.pending_secret()
    if user is None or not secret:
        return redirect(url_for("staff.sign_in"))
    enrolment = _enrolment(user.email, secret)
    if request.method == "GET":
        return render_template("staff/enrol.html", enrolment=enrolment, action=url_for("staff.sign_in_enrol"))
    try:
        codes = two_factor.enable_two_factor(user, secret, request.form.get("code", ""), _ip())
    except accounts.StaffAuthError as exc:
        db.session.commit()
        message, status = _auth_error(exc)
        return render_template(
            "staff/enrol.html", enrolment=enrolment, action=url_for("staff.sign_in_enrol"), error=message
        ), status
    return _finish_sign_in(user, recovery_codes=codes)


@bp.post("/sign-out")
@allow(FINANCE)
def sign_out() -> Any:
    user = current_staff()
    if user is not None:
        audit.record(user.actor, "staff.sign_out")
        db.session.commit()
    auth.end_session()
    flash(_("You are signed out."), "info")
    return redirect(url_for("staff.sign_in"))


# -- the dashboard -------------------------------------------------------------------------


def _presets(today: date) -> dict[str, Period]:
    first = today.replace(day=1)
    last_month_end = first - timedelta(days=1)
    year, month = (first.year, first.month - 11) if first.month == 12 else (first.year - 1, first.month + 1)
    return {
        "this_month": Period(first, today),
        "last_month": Period(last_month_end.replace(day=1), last_month_end),
        "last_7_days": Period(today - timedelta(days=6), today),
        "last_12_months": Period(date(year, month, 1), today),
        "this_year": Period(date(today.year, 1, 1), today),
    }


def _preset_labels() -> dict[str, str]:
    return {
        "this_month": _("This month"),
        "last_month": _("Last month"),
        "last_7_days": _("Last 7 days"),
        "last_12_months": _("Last 12 months"),
        "this_year": _("This year"),
    }


def _period(default: str = "this_month") -> Period:
    today = datetime.now(UTC).date()
    presets = _presets(today)
    chosen = request.args.get("preset")
    if chosen in presets:
        return presets[chosen]
    first, last = request.args.get("from"), request.args.get("to")
    if not first and not last:
        return presets[default]
    try:
        period = Period(date.fromisoformat(first or ""), date.fromisoformat(last or ""))
    except ValueError:
        flash(str(text.ERRORS["bad_dates"]), "error")
        return presets[default]
    if period.first > period.last or (period.last - period.first).days > MAX_DAYS:
        flash(str(text.ERRORS["bad_dates"]), "error")
        return presets[default]
    return period


def _dashboard_charts(report: reports.Dashboard) -> dict[str, Any]:
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
    period = _period()
    report = reports.dashboard(period)
    return render_template(
        "staff/dashboard.html",
        report=report,
        period=period,
        charts=_dashboard_charts(report),
        presets=_preset_labels(),
        no_campaign=reports.NO_CAMPAIGN,
    )


# -- supporters ----------------------------------------------------------------------------


@bp.get("/supporters")
@allow(FINANCE)
def supporters() -> Any:
    query = request.args.get("q", "").strip()[:200]
    found = reports.search_supporters(query) if query else []
    return render_template("staff/supporters.html", query=query, found=found)


def _events_about(supporter: Supporter) -> list[WebhookEvent]:
    """Stored Stripe events applied about this supporter (linked when each was applied)."""
    return list(
        db.session.scalars(
            sa.select(WebhookEvent)
            .where(WebhookEvent.supporter_id == supporter.id)
            .order_by(WebhookEvent.created.desc(), WebhookEvent.id.desc())
            .limit(100)
        )
    )


@bp.get("/supporters/<int:supporter_id>")
@allow(FINANCE)
def supporter(supporter_id: int) -> Any:
    person = db.session.get(Supporter, supporter_id)
    if person is None:
        abort(404)
    user = current_staff()
    assert user is not None
    audit.record(user.actor, "supporter.view", supporter_id=person.id)
    db.session.commit()
    memberships = list(
        db.session.scalars(
            sa.select(Membership)
            .where(Membership.supporter_id == person.id)
            .order_by(Membership.created_at.desc())
        )
    )
    payments = list(
        db.session.scalars(
            sa.select(Payment)
            .where(Payment.supporter_id == person.id)
            .order_by(sa.func.coalesce(Payment.paid_at, Payment.created_at).desc(), Payment.id.desc())
            .limit(500)
        )
    )
    emails = list(
        db.session.scalars(
            sa.select(EmailLog)
            .where(EmailLog.supporter_id == person.id)
            .order_by(EmailLog.created_at.desc(), EmailLog.id.desc())
            .limit(200)
        )
    )
    return render_template(
        "staff/supporter.html",
        person=person,
        memberships=memberships,
        payments=payments,
        emails=emails,
        events=_events_about(person),
        refundable=staff_actions.refundable,
        request_key=secrets.token_urlsafe(12),
        can_act=user.may(ADMIN),
    )


def _minor_units(value: str, currency: str) -> int | None:
    cleaned = value.strip().translate(two_factor.LATIN_DIGITS).replace("\u066b", ".").replace(",", ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    scaled = amount.scaleb(get_currency_precision(currency.upper()))
    if scaled != scaled.to_integral_value() or not amount.is_finite():
        return None
    return int(scaled)


def _act_error(exc: DomainError) -> None:
    db.session.rollback()
    code = exc.code if exc.code in text.ERRORS else "stripe_error"
    flash(str(text.ERRORS[code]), "error")


@bp.post("/payments/<int:payment_id>/refund")
@allow(ADMIN)
def refund(payment_id: int) -> Any:
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        abort(404)
    back = redirect(url_for("staff.supporter", supporter_id=payment.supporter_id))
    amount = _minor_units(request.form.get("amount", ""), payment.currency)
    user = current_staff()
    assert user is not None
    try:
        if amount is None:
            raise staff_actions.ActionRefused("refund_amount")
        staff_actions.refund(
            payment.id, amount, user, get_gateway(), request.form.get("key", "") or secrets.token_urlsafe(12)
        )
        db.session.commit()
    except DomainError as exc:
        _act_error(exc)
        return back
    flash(_("Refunded %(amount)s.", amount=money(amount, payment.currency)), "info")
    return back


@bp.post("/memberships/<int:membership_id>/cancel")
@allow(ADMIN)
def cancel(membership_id: int) -> Any:
    membership = db.session.get(Membership, membership_id)
    if membership is None:
        abort(404)
    back = redirect(url_for("staff.supporter", supporter_id=membership.supporter_id))
    at_period_end = request.form.get("when") == "period_end"
    user = current_staff()
    assert user is not None
    try:
        staff_actions.cancel(
            membership.id,
            user,
            get_gateway(),
            request.form.get("key", "") or secrets.token_urlsafe(12),
            at_period_end=at_period_end,
            comment=request.form.get("comment", ""),
        )
        db.session.commit()
    except DomainError as exc:
        _act_error(exc)
        return back
    flash(
        _("The membership will end at the end of the period paid for.")
        if at_period_end
        else _("The membership is cancelled."),
        "info",
    )
    return back


# -- exports -------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _major(amount: int | None, currency: str) -> str:
    if amount is None:
        return ""
    return format(Decimal(int(amount)).scaleb(-get_currency_precision(currency.upper())), "f")


#: A column of an export: its heading and what it holds for one row.
Column = tuple[str, Callable[[Any], Any]]


def _export(name: str, rows: Callable[[Period, int], Iterable[Any]], columns: list[Column]) -> Response:
    """``<name>-<first>-<last>.csv`` for the chosen period: the export is audited, then streamed
    ``STAFF_EXPORT_BATCH`` rows at a time (UTF-8 with a BOM, see ``csv_export``)."""
    period = _period()
    user = current_staff()
    assert user is not None
    audit.record(user.actor, f"export.{name}", first=period.first.isoformat(), last=period.last.isoformat())
    db.session.commit()
    batch = int(current_app.config["STAFF_EXPORT_BATCH"])
    chunks = csv_export.stream(
        [heading for heading, _cell in columns],
        rows(period, batch),
        lambda row: [cell(row) for _heading, cell in columns],
        batch=batch,
    )
    filename = f"{name}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


def _value(code: Any) -> Any:
    return getattr(code, "value", code)


@bp.get("/export/payments.csv")
@allow(FINANCE)
def export_payments() -> Response:
    columns: list[Column] = [
        (_("Payment"), lambda r: r.id),
        (_("Date (UTC)"), lambda r: _iso(r.at)),
        (_("Email"), lambda r: r.email),
        (_("Name"), lambda r: r.name),
        (_("Amount"), lambda r: _major(r.amount, r.currency)),
        (_("Currency"), lambda r: r.currency.upper()),
        (_("Status"), lambda r: text.label(text.PAYMENT_STATUSES, r.status)),
        (_("Refunded"), lambda r: _major(r.refunded_amount, r.currency)),
        (_("Stripe fee"), lambda r: _major(r.fee, r.currency)),
        (_("Added to cover fees"), lambda r: _major(r.fee_cover, r.currency)),
        (_("Frequency"), lambda r: text.label(text.FREQUENCIES, _value(r.frequency))),
        (_("Campaign"), lambda r: r.campaign),
        (_("Receipt number"), lambda r: r.receipt_number),
        (_("Failure code"), lambda r: r.failure_code),
        (_("Stripe invoice"), lambda r: r.stripe_invoice_id),
        (_("Stripe payment intent"), lambda r: r.stripe_payment_intent_id),
        (_("Stripe charge"), lambda r: r.stripe_charge_id),
    ]
    return _export("payments", lambda period, batch: reports.payment_rows(period, batch=batch), columns)


def _monthly(row: Any) -> int:
    return int(row.amount if _value(row.interval) == "month" else reports.mrr(0, row.amount))


@bp.get("/export/members.csv")
@allow(FINANCE)
def export_members() -> Response:
    columns: list[Column] = [
        (_("Membership"), lambda r: r.id),
        (_("Email"), lambda r: r.email),
        (_("Name"), lambda r: r.name),
        (_("Language"), lambda r: r.locale),
        (_("Status"), lambda r: text.label(text.MEMBERSHIP_STATUSES, r.status)),
        (_("Amount"), lambda r: _major(r.amount, r.currency)),
        (_("Currency"), lambda r: r.currency.upper()),
        (_("Frequency"), lambda r: text.label(text.FREQUENCIES, _value(r.interval))),
        (_("Monthly amount"), lambda r: _major(_monthly(r), r.currency)),
        (_("Started (UTC)"), lambda r: _iso(r.started_at)),
        (_("Ended (UTC)"), lambda r: _iso(r.ended_at)),
        (_("Current period ends (UTC)"), lambda r: _iso(r.current_period_end)),
        (_("Ends at period end"), lambda r: _("yes") if r.cancel_at_period_end else _("no")),
        (_("Cancellation reason"), lambda r: r.cancellation_reason),
        (_("Campaign"), lambda r: r.campaign),
        (_("Stripe subscription"), lambda r: r.stripe_subscription_id),
        (_("Stripe customer"), lambda r: r.stripe_customer_id),
    ]
    return _export("members", lambda period, batch: reports.member_rows(period, batch=batch), columns)


# -- reconciliation ------------------------------------------------------------------------


@bp.get("/reconciliation")
@allow(FINANCE)
def reconciliation_list() -> Any:
    period = _period(default="last_12_months")
    return render_template(
        "staff/reconciliation.html",
        period=period,
        presets=_preset_labels(),
        checks=reconciliation.payouts_between(period.start, period.end),
    )


@bp.get("/reconciliation/<int:payout_id>")
@allow(FINANCE)
def payout(payout_id: int) -> Any:
    check = reconciliation.payout_check(payout_id)
    if check is None:
        abort(404)
    return render_template("staff/payout.html", check=check)


# -- one's own account ---------------------------------------------------------------------


ENROL_KEY = "staff_enrol_secret"


@bp.get("/account")
@allow(FINANCE)
def account() -> Any:
    user = current_staff()
    assert user is not None
    enrolment = None
    if not user.has_two_factor:
        enrolment = _enrolment(user.email, auth.enrolment_secret(ENROL_KEY))
    return render_template(
        "staff/account.html",
        enrolment=enrolment,
        recovery_left=two_factor.recovery_codes_left(user) if user.has_two_factor else None,
    )


@bp.post("/account/password")
@allow(FINANCE)
def change_password() -> Any:
    user = current_staff()
    assert user is not None
    new = request.form.get("new_password", "")
    if not accounts.verify_password(user.password_hash, request.form.get("current_password", "")):
        flash(str(text.ERRORS["password_wrong"]), "error")
    elif new != request.form.get("confirm_password", ""):
        flash(str(text.ERRORS["password_mismatch"]), "error")
    else:
        try:
            accounts.set_password(user, new, user.actor)
        except accounts.StaffAuthError as exc:
            flash(str(text.ERRORS[exc.code]), "error")
            return redirect(url_for("staff.account"))
        db.session.commit()
        auth.start_session(user)  # this session goes on; every other one ends
        flash(_("Your password is changed. Other sessions are signed out."), "info")
    return redirect(url_for("staff.account"))


@bp.post("/account/two-factor")
@allow(FINANCE)
def enable_two_factor() -> Any:
    user = current_staff()
    assert user is not None
    secret = auth.stored_enrolment_secret(ENROL_KEY)
    if user.has_two_factor or not secret:
        return redirect(url_for("staff.account"))
    try:
        codes = two_factor.enable_two_factor(user, secret, request.form.get("code", ""), _ip())
    except accounts.StaffAuthError as exc:
        db.session.commit()
        flash(_auth_error(exc)[0], "error")
        return redirect(url_for("staff.account"))
    db.session.commit()
    session.pop(ENROL_KEY, None)
    auth.start_session(user)
    flash(_("Two-factor sign-in is on. You will be asked for a code at every sign-in."), "info")
    return _show_recovery_codes(codes, url_for("staff.account"))


@bp.post("/account/recovery-codes")
@allow(FINANCE)
def regenerate_recovery_codes() -> Any:
    """Ten new recovery codes for the old, with a current code from the app."""
    user = current_staff()
    assert user is not None
    try:
        codes = two_factor.regenerate_recovery_codes(user, request.form.get("code", ""), _ip())
    except accounts.StaffAuthError as exc:
        db.session.commit()
        flash(_auth_error(exc)[0], "error")
        return redirect(url_for("staff.account"))
    db.session.commit()
    flash(_("New recovery codes are made; the old ones no longer work."), "info")
    return _show_recovery_codes(codes, url_for("staff.account"))


@bp.post("/account/two-factor/off")
@allow(FINANCE)
def disable_two_factor() -> Any:
    user = current_staff()
    assert user is not None
    try:
        two_factor.disable_two_factor(user, request.form.get("code", ""), _ip())
    except accounts.StaffAuthError as exc:
        db.session.commit()
        flash(
            _auth_error(exc)[0] if exc.code != "two_factor_required" else str(text.ERRORS[exc.code]), "error"
        )
        return redirect(url_for("staff.account"))
    db.session.commit()
    auth.start_session(user)
    flash(_("Two-factor sign-in is off."), "info")
    return redirect(url_for("staff.account"))


# -- staff accounts (admin) ----------------------------------------------------------------


@bp.get("/users")
@allow(ADMIN)
def users() -> Any:
    people = list(db.session.scalars(sa.select(StaffUser).order_by(StaffUser.email)))
    locked = {p.id: staff_sign_in.locked_until(p.email) for p in people}
    return render_template("staff/users.html", people=people, locked=locked, roles=list(StaffRole))


@bp.post("/users")
@allow(ADMIN)
def create_user() -> Any:
    user = current_staff()
    assert user is not None
    try:
        role = StaffRole(request.form.get("role", ""))
    except ValueError:
        abort(400)
    try:
        created = accounts.create_staff(
            request.form.get("email", ""),
            role,
            request.form.get("password", ""),
            request.form.get("name", ""),
            actor=user.actor,
        )
    except accounts.StaffAuthError as exc:
        db.session.rollback()
        flash(str(text.ERRORS[exc.code]), "error")
        return redirect(url_for("staff.users"))
    db.session.commit()
    flash(_("Account created for %(email)s.", email=created.email), "info")
    return redirect(url_for("staff.users"))


@bp.post("/users/<int:user_id>")
@allow(ADMIN)
def update_user(user_id: int) -> Any:
    me = current_staff()
    assert me is not None
    person = db.session.get(StaffUser, user_id)
    if person is None:
        abort(404)
    action = request.form.get("action")
    if person.id == me.id and action in ("role", "disable", "reset_two_factor"):
        flash(_("You cannot change your own role or access here; ask another admin."), "error")
        return redirect(url_for("staff.users"))
    if action == "role":
        try:
            accounts.set_role(person, StaffRole(request.form.get("role", "")), me.actor)
        except ValueError:
            abort(400)
    elif action == "disable":
        accounts.set_disabled(person, True, me.actor)
    elif action == "enable":
        accounts.set_disabled(person, False, me.actor)
    elif action == "reset_two_factor":
        accounts.reset_two_factor(person, me.actor)
    elif action == "unlock":
        staff_sign_in.unlock(person.email, me.actor, _ip())
    else:
        abort(400)
    db.session.commit()
    flash(_("Saved."), "info")
    return redirect(url_for("staff.users"))


# -- audit log (admin) ---------------------------------------------------------------------

AUDIT_PAGE = 100


@bp.get("/audit")
@allow(ADMIN)
def audit_log() -> Any:
    page = max(1, request.args.get("page", 1, type=int) or 1)
    entries = list(
        db.session.scalars(
            sa.select(AuditEntry)
            .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
            .offset((page - 1) * AUDIT_PAGE)
            .limit(AUDIT_PAGE + 1)
        )
    )
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    staff_ids = {int(e.actor.split(":", 1)[1]) for e in entries if e.actor.startswith("staff:")}
    names = (
        {s.id: s.email for s in db.session.scalars(sa.select(StaffUser).where(StaffUser.id.in_(staff_ids)))}
        if staff_ids
        else {}
    )
    return render_template("staff/audit.html", entries=entries, names=names, page=page, more=more)
