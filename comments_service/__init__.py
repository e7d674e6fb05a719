"""The comment service: a small Flask app beside the static site.

``create_app`` is the only entry point. Configuration is layered, as in
Flask's tutorial: defaults, then what ``config.load()`` decides from the
environment (mode, Pelican settings, site folder, database, origin, secret),
then ``RATELIMIT_ENABLED``, then any ``FLASK_*`` variable, then the mapping a
test passes in.
"""

import os

from comments_service import config as deployment_config


def create_app(test_config=None):
    """Create and configure the app.

    In production it refuses to serve without ``SITE_URL`` and ``SECRET_KEY``
    (``config.ConfigError``, one line). Under the ``flask`` console both may
    be missing: a command that signs nothing and publishes nothing needs
    neither, and one that publishes says what is missing.
    """
    # Imported here, not at the top: the Pelican plugin lives in this package
    # and every site build would otherwise pay for importing Flask.
    from flask import Flask
    from jinja2 import ChoiceLoader, FileSystemLoader
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = Flask(__name__)
    try:
        deployment = deployment_config.load()
    except deployment_config.ConfigError as exc:
        if running_a_console_command():
            import click

            raise click.UsageError(str(exc)) from None  # one line, no traceback
        raise
    app.config.from_mapping(
        # DEVELOPMENT (BLOG_ENV=development) relaxes the SECRET_KEY
        # requirement and the Secure cookie flag; see config.py for the rest.
        **deployment.as_mapping(),
        THEME_TEMPLATES=str(deployment_config.PROJECT_ROOT / "theme" / "templates"),
        RATELIMIT_ENABLED=True,
        # Serve the built site too (one process for `make serve`); in
        # production nginx serves it and proxies only the service's prefixes.
        SERVE_SITE=True,
        # How many reverse proxies (nginx) stand in front: their X-Forwarded-*
        # headers are trusted for that many hops, and never when 0.
        TRUSTED_PROXIES=0,
        COMMENT_RATE_LIMIT="5 per minute",
        LOGIN_RATE_LIMIT="5 per minute",
        BEACON_RATE_LIMIT="120 per minute",
        # scrypt with n=2**17, r=8, p=1 (about 128 MB and a few hundred ms a hash).
        PASSWORD_HASH="scrypt:131072:8:1",
        # A comment is at most 5,000 characters; anything far larger is not one.
        MAX_CONTENT_LENGTH=64 * 1024,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=None,  # None: Secure everywhere but development
        SESSION_COOKIE_SAMESITE="Lax",
        # An admin's login: 12 hours, or 30 days with "Remember me" (admin.py).
        ADMIN_SESSION_HOURS=12,
        PERMANENT_SESSION_LIFETIME=30 * 86400,
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session: long moderation sessions
        # Email (the outbox: outbox.py): off unless SMTP_HOST is set; the
        # admin's new-comment email also needs SMTP_TO (FLASK_SMTP_HOST,
        # FLASK_SMTP_PORT, ... in the environment).
        OUTBOX_POLL_SECONDS=30,
        OUTBOX_GIVE_UP_HOURS=72,
        OUTBOX_KEEP_DAYS=7,
        # How long the one-tap links in the admin's email work (action_links.py).
        EMAIL_LINK_MAX_AGE_DAYS=7,
        SMTP_HOST=None,
        SMTP_PORT=587,
        SMTP_USER=None,
        SMTP_PASSWORD=None,
        SMTP_FROM=None,
        SMTP_TO=None,
        SMTP_STARTTLS=True,
        # Publish at once a comment from a confirmed address with an approved
        # comment (subscriptions.auto_approval); off, as WordPress's rule is.
        AUTO_APPROVE_KNOWN_COMMENTERS=False,
    )
    if "RATELIMIT_ENABLED" in os.environ:
        app.config["RATELIMIT_ENABLED"] = os.environ["RATELIMIT_ENABLED"]
    app.config["RATELIMIT_ENABLED"] = str(app.config["RATELIMIT_ENABLED"]).lower() not in {
        "0",
        "false",
        "no",
    }
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)

    check_serving_config(app, deployment)
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = not app.config["DEVELOPMENT"]

    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    # The service's pages extend the theme's layout, so a comment or a form
    # looks the same on a static page and on a page the service renders.
    app.jinja_loader = ChoiceLoader(
        [app.jinja_loader, FileSystemLoader(app.config["THEME_TEMPLATES"])]
    )

    from comments_service import (
        admin,
        backup,
        cli,
        db,
        email_actions,
        errors,
        object_store,
        outbox,
        privacy,
        privacy_requests,
        public,
        registry,
        security,
        site,
        stats,
        subscription_pages,
    )
    from comments_service.extensions import csrf, limiter

    db.init_app(app)
    limiter.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    cli.init_app(app)
    app.cli.add_command(backup.db_cli)
    app.cli.add_command(object_store.site_cli)
    app.cli.add_command(outbox.outbox_cli)
    app.cli.add_command(privacy_requests.privacy_cli)
    app.context_processor(registry.site_context)
    app.register_blueprint(public.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(email_actions.bp)
    app.register_blueprint(subscription_pages.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(stats.bp)
    if app.config["SERVE_SITE"]:
        app.register_blueprint(site.bp)
    return app


def check_serving_config(app, deployment):
    """Fill in the development secret, or refuse a production app lacking a setting."""
    if app.config["DEVELOPMENT"]:
        app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or deployment_config.development_secret(
            app.config["COMMENTS_DB"]
        )
        return
    if running_a_console_command():
        return  # see the docstring of create_app
    if not app.config["SITE_URL"]:
        deployment.require("SITE_URL")
    if not app.config["SECRET_KEY"]:
        deployment.require("SECRET_KEY")


def running_a_console_command():
    """True under ``flask --app comments_service <command>``, except ``flask run``
    (which serves requests, so it gets production's checks)."""
    import click

    context = click.get_current_context(silent=True)
    return context is not None and context.info_name != "run"
