"""The finance dashboard's figures, from our tables only (never the Stripe API).

Times are UTC.  A period is ``[start, end)``; the dashboard asks for whole
days, so ``end`` is midnight after the last day.

What the words mean here (the page repeats the short version):

- A **membership** is one subscription.  It *starts* when the subscription
  started at Stripe (``started_at``: Stripe's ``start_date``, set from the
  subscription by the support page's confirm step, its events and ``stripe
  sync``; for rows from before Stripe's date was kept, when our database first
  recorded it) and *ends* when it reaches ``canceled``, ``unpaid`` or
  ``paused``, at Stripe's ``canceled_at`` (else when we recorded the change).
  ``incomplete`` ones never started: their first charge never went through.
  A membership imported by a sync starts on its Stripe date, not the import's.
- A **member** at a moment is a membership started before it and not ended
  before it.  ``past_due`` is still a member (grace while Stripe retries).
- **New** members of a period started in it; **reactivated** ones also
  started in it, by a supporter with an earlier membership that had ended by
  then (new and reactivated never overlap); **churned** ones ended in it.
  Members at the end = members at the start + new + reactivated - churned.
- **Churn rate** = churned / members at the start of the period (per month:
  of the month).
- **MRR** (monthly recurring revenue) of the members at the end, per
  currency: monthly amounts plus yearly amounts / 12, each membership at its
  current amount.  Yearly amounts are summed per currency first and the sum
  divided by 12, rounded half up to a whole minor unit (cent) once, so MRR is
  an integer of minor units.
- **Revenue** is what was charged (``paid_at`` in the period), refunded and
  disputed payments included at their full amount; **refunds** and
  **disputes** are those of the payments charged in the period, whenever the
  refund or dispute came.  A payment's **frequency** is its membership's
  interval (``once`` without one); its **campaign** is the one stored with it.
- **Failed payments** are charges that failed in the period (``created_at``).
- **Members in grace** are the memberships ``past_due`` now, whatever the period.

How they are computed: every figure but members in grace is a sum over days
(members at a moment: the starts minus the ends of every day before it).
Whole past days are read from the daily summaries
(``app/models/report_summary.py``, built by ``summaries.build_days``); the days without
a current summary (today, days not built yet, days changed since they were
built) are computed live from the raw tables by the same definitions, in the
same queries.  So a figure is the same with summaries or without; the
summaries only make it fast.
"""
