"""Security headers on every response (being written: issue 9)."""


def init_app(app):
    """Add the security headers to every response of ``app``."""
