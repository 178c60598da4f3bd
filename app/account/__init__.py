"""The supporter's own pages: sign in by email link, membership, card, receipts, data."""
