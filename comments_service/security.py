"""Security headers: their values, defined once, and every Flask response's.

The header values are plain functions of the mode, so that the two places
that send them agree: this module's ``after_request`` hook (every response of
the service, and of the static site when the app serves it under ``make
serve`` or a bare gunicorn), and the nginx site in ``deploy/``, which sends
``static_site_headers(production=True)`` with the static files and leaves the
proxied prefixes to the service (a test compares the two).

The policy, and why:

* ``Content-Security-Policy``: only this origin's files, nothing inline. The
  theme's scripts and styles are files, and the templates carry no inline
  script, event handler, ``style`` attribute or ``javascript:`` URL, so no
  ``'unsafe-inline'`` and no nonces (a static page cannot carry a fresh
  nonce). ``object-src 'none'``, ``base-uri 'self'`` and ``form-action
  'self'`` close the usual ways around a script policy; ``frame-ancestors
  'none'`` everywhere: nothing on the site is meant to be framed, and a framed
  page is a clickjacking target (the opt-out and comment buttons on public
  pages, the moderation buttons on /admin/, where a same-site page once framed
  the queue and one click approved a comment).
* ``X-Frame-Options: DENY``: the same for browsers without frame-ancestors.
* ``X-Content-Type-Options: nosniff``: a file is only ever what its type says.
* ``Referrer-Policy``: ``strict-origin-when-cross-origin`` on public pages
  (another site learns only our origin, never the page); ``same-origin`` on
  /admin/, whose URLs (comment ids, views) go nowhere else, not even the origin.
* ``Strict-Transport-Security: max-age=31536000`` in production only (plain
  http under ``make serve`` must keep working). Without ``includeSubDomains``
  or ``preload``: the blog owns its host, not the whole domain, and those
  bind every other host of the domain to HTTPS for a year.

Third-party analytics (pelicanconf ``ANALYTICS``) are blocked by this policy
unless the author allows their origin: set ``CSP_ANALYTICS_ORIGINS`` (for
the service ``FLASK_CSP_ANALYTICS_ORIGINS="https://stats.example.com"``,
several separated by spaces) and add the same origins to the nginx site's
``script-src``, ``connect-src`` and ``img-src``. Only the ``src`` form of a
snippet can run: an inline snippet is inline script, which this policy never
allows.

flask-talisman (1.1.0) was considered and not used: its defaults redirect to
HTTPS (nginx does that; ``make serve`` is plain http), override the session
cookie's Secure flag that ``create_app`` already sets per mode, and send
``X-Frame-Options: SAMEORIGIN``; a different policy for /admin/ needs its
decorator on every admin view; and it would keep the policy in its own
format, where nginx could not be checked against it. What remains is one
dict per audience and a ten-line hook.
"""

ADMIN_PREFIX = "/admin/"
HSTS = "max-age=31536000"


def content_security_policy(analytics_origins=()):
    """The Content-Security-Policy value; ``analytics_origins`` may load scripts,
    images and send requests (the author's analytics, allowed by name)."""
    extra = "".join(f" {origin}" for origin in analytics_origins)
    directives = [
        "default-src 'self'",
        f"script-src 'self'{extra}",
        "style-src 'self'",
        f"img-src 'self'{extra}",
        f"connect-src 'self'{extra}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def static_site_headers(production, analytics_origins=()):
    """Headers for the static site and the service's public pages (/comments/,
    /privacy/, /stats/): what nginx sends with every static file."""
    headers = {
        "Content-Security-Policy": content_security_policy(analytics_origins),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",
    }
    if production:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def admin_headers(production):
    """Headers for /admin/: no analytics origin, no referrer outside the site."""
    return {
        **static_site_headers(production),
        "Referrer-Policy": "same-origin",
    }


def is_admin_path(path):
    """True for /admin and everything under /admin/ (nginx's location for it)."""
    return path == ADMIN_PREFIX.rstrip("/") or path.startswith(ADMIN_PREFIX)


def analytics_origins_setting(value):
    """``CSP_ANALYTICS_ORIGINS`` as a tuple: a string of origins separated by
    spaces or commas (from the environment), or a list."""
    if not value:
        return ()
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return tuple(value)


def init_app(app):
    """Add the security headers to every response of ``app`` (error pages too)."""
    # Imported here, not at the top: the header values above are read where
    # Flask is not wanted (the nginx site's tests, the build).
    from flask import request

    production = not app.config["DEVELOPMENT"]
    origins = analytics_origins_setting(app.config.get("CSP_ANALYTICS_ORIGINS"))
    public = static_site_headers(production, origins)
    admin = admin_headers(production)

    @app.after_request
    def add_security_headers(response):
        for name, value in (admin if is_admin_path(request.path) else public).items():
            # setdefault: a view that needs another value sets it itself.
            response.headers.setdefault(name, value)
        return response
