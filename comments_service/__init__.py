"""The comment service: a small Flask app beside the static site.

``create_app`` is the only entry point. Configuration is layered, as in
Flask's tutorial: defaults, then the contract's environment variables
(``COMMENTS_DB``, ``SECRET_KEY``, ``SITE_URL``, ``RATELIMIT_ENABLED``), then
any ``FLASK_*`` variable, then the mapping a test passes in.
"""

import os
import secrets
from pathlib import Path

# Environment variables named by the contract (DESIGN.md), without a prefix.
CONTRACT_ENV = ("COMMENTS_DB", "SECRET_KEY", "SITE_URL", "RATELIMIT_ENABLED")


def create_app(test_config=None):
    """Create and configure the app."""
    # Imported here, not at the top: the Pelican plugin lives in this package
    # and every site build would otherwise pay for importing Flask.
    from flask import Flask
    from jinja2 import ChoiceLoader, FileSystemLoader
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = Flask(__name__)
    project_root = Path(app.root_path).parent
    app.config.from_mapping(
        # True only under `make serve` (FLASK_DEVELOPMENT=1): relaxes the
        # SECRET_KEY requirement and the Secure cookie flag.
        DEVELOPMENT=False,
        SECRET_KEY=None,
        COMMENTS_DB=str(project_root / "var" / "comments.db"),
        SITE_DIR=str(project_root / "output"),
        PELICAN_SETTINGS=str(project_root / "pelicanconf.py"),
        THEME_TEMPLATES=str(project_root / "theme" / "templates"),
        SITE_URL=None,
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
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session: long moderation sessions
        # New-comment email; off unless SMTP_HOST and SMTP_TO are set
        # (FLASK_SMTP_HOST, FLASK_SMTP_PORT, ... in the environment).
        SMTP_HOST=None,
        SMTP_PORT=587,
        SMTP_USER=None,
        SMTP_PASSWORD=None,
        SMTP_FROM=None,
        SMTP_TO=None,
        SMTP_STARTTLS=True,
    )
    for key in CONTRACT_ENV:
        if key in os.environ:
            app.config[key] = os.environ[key]
    app.config["RATELIMIT_ENABLED"] = str(app.config["RATELIMIT_ENABLED"]).lower() not in {
        "0",
        "false",
        "no",
    }
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)

    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or development_secret_key(app)
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
        cli,
        db,
        errors,
        privacy,
        public,
        registry,
        security,
        site,
        stats,
    )
    from comments_service.extensions import csrf, limiter

    db.init_app(app)
    limiter.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    cli.init_app(app)
    app.context_processor(registry.site_context)
    app.register_blueprint(public.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(stats.bp)
    if app.config["SERVE_SITE"]:
        app.register_blueprint(site.bp)
    return app


def development_secret_key(app):
    """Return the development key kept in var/, creating it on first use.

    Outside development there is no fallback: a guessable or per-process key
    would let anyone forge sessions or break them on every restart.
    """
    if not app.config["DEVELOPMENT"]:
        raise RuntimeError(
            "SECRET_KEY is not set. Set it in the environment, e.g. "
            "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )
    key_file = Path(app.config["COMMENTS_DB"]).parent / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()
