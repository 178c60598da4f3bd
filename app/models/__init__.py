"""The tables, one module per concept."""

from app.models.audit import AuditEntry
from app.models.email_log import EmailKind, EmailLog, EmailStatus
from app.models.membership import (
    ENDED_STATUSES,
    FINAL_STATUSES,
    LAPSED_STATUSES,
    MEMBER_STATUSES,
    NEVER_STARTED_STATUSES,
    Interval,
    Membership,
    MembershipStatus,
)
from app.models.payment import CHARGED_STATUSES, Payment, PaymentStatus
from app.models.payment_attempt import AttemptOutcome, PaymentAttempt
from app.models.payout import PAYOUT_FINAL_STATUSES, Payout, PayoutTransaction
from app.models.reminder import Reminder, ReminderRequest
from app.models.report_indexes import REPORT_INDEXES
from app.models.report_summary import (
    DailyCancellationReasons,
    DailyFailures,
    DailyMemberships,
    DailyPayments,
    ReportDay,
    ReportDirtyDay,
)
from app.models.sign_in_token import SignInAttempt, SignInToken
from app.models.staff_session import StaffSession
from app.models.staff_user import (
    SignInOutcome,
    StaffRecoveryCode,
    StaffRole,
    StaffSignInAttempt,
    StaffUser,
)
from app.models.stripe_pacing import StripePacing
from app.models.supporter import Supporter
from app.models.sync_cursor import SyncCursor
from app.models.webhook_event import WebhookEvent

__all__ = [
    "AttemptOutcome",
    "AuditEntry",
    "DailyCancellationReasons",
    "DailyFailures",
    "DailyMemberships",
    "DailyPayments",
    "EmailKind",
    "EmailLog",
    "EmailStatus",
    "CHARGED_STATUSES",
    "ENDED_STATUSES",
    "FINAL_STATUSES",
    "LAPSED_STATUSES",
    "MEMBER_STATUSES",
    "NEVER_STARTED_STATUSES",
    "Interval",
    "Membership",
    "MembershipStatus",
    "Payment",
    "PaymentAttempt",
    "PaymentStatus",
    "PAYOUT_FINAL_STATUSES",
    "Payout",
    "PayoutTransaction",
    "REPORT_INDEXES",
    "Reminder",
    "ReminderRequest",
    "ReportDay",
    "ReportDirtyDay",
    "SignInAttempt",
    "SignInOutcome",
    "SignInToken",
    "StaffRecoveryCode",
    "StaffSession",
    "StaffRole",
    "StaffSignInAttempt",
    "StaffUser",
    "StripePacing",
    "Supporter",
    "SyncCursor",
    "WebhookEvent",
]
