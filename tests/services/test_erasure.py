"""What the scrubber takes out of a stored Stripe object, and what it leaves."""

from __future__ import annotations

from app.services.account import privacy


def test_personal_fields_go_ids_and_money_stay() -> None:
    charge = {
        "id": "ch_3Mabc",
        "object": "charge",
        "customer": "cus_Q1w2e3",
        "amount": 1000,
        "billing_details": {
            "name": "Layla Haddad",
            "email": "Layla@Example.org",
            "address": {"city": "Beirut"},
        },
        "receipt_email": "layla@example.org",
        "description": "Gift from LAYLA HADDAD (layla@example.org)",
        "metadata": {"campaign": "spring", "note": "ask Layla Haddad"},
        "refunds": {"data": [{"id": "re_1", "reason": None}]},
        "status": "succeeded",
    }
    scrubbed = privacy.scrub(charge, privacy.needles("layla@example.org", "Layla Haddad"))
    assert scrubbed["billing_details"] is None and scrubbed["receipt_email"] is None
    assert scrubbed["description"] == "Gift from [erased] ([erased])"
    assert scrubbed["metadata"] == {"campaign": "spring", "note": "ask [erased]"}
    for key in ("id", "customer", "amount", "refunds", "status"):
        assert scrubbed[key] == charge[key]
    assert charge["billing_details"]["name"] == "Layla Haddad"  # a copy: the input is untouched


def test_a_short_name_is_not_searched_inside_other_words() -> None:
    found = privacy.needles("al@example.org", "Al")
    assert found == ["al@example.org"]
    assert privacy.scrub({"description": "Annual gift", "name": "Al"}, found) == {
        "description": "Annual gift",
        "name": None,
    }
