"""Gunicorn's settings for this service: gunicorn reads this file when started from the project
directory (``gunicorn "app:create_app()"``), and the demo names it.

The access log leaves out the secret of sign-in, unsubscribe and thank-you links
(``app/access_log.py``).
"""

logger_class = "app.access_log.RedactingLogger"
