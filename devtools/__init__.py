"""Local stand-ins for the demo and the tests (never imported by the app)."""
