"""The supporter's account: /ar/account and /en/account.

Sign in by emailed link (``sign_in``), then the membership (``overview``;
amount, frequency, cancel, resume in ``membership``; ``card``; a renewal the
bank must confirm in ``authentication``), payment
history with PDF receipts and a yearly statement (``receipts``), and the
supporter's data (``privacy``: download, erase).  Views parse, call one
service function, commit, and render or redirect.

Each module adds its views to ``blueprint.bp`` when imported; importing this
package (as ``app.account.views.blueprint`` does) imports them all.
"""

from app.account.views import authentication, card, membership, overview, privacy, receipts, sign_in

__all__ = ["authentication", "card", "membership", "overview", "privacy", "receipts", "sign_in"]
