"""Supporter self-service: sign in by an emailed link (``links``), see what one has given
(``records``), change one's membership and card (``changes``), and take one's data or erase
it (``privacy``).
"""
