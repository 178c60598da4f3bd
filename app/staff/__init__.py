"""Finance staff: sign-in with roles and two-factor, reports, exports, reconciliation, audit log."""
