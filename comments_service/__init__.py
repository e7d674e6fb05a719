"""The comment service: a small Flask app beside the static site.

``create_app`` is the only entry point. Configuration is layered, as in
Flask's tutorial: defaults, then the contract's environment variables
(``COMMENTS_DB``, ``SECRET_KEY``, ``SITE_URL``, ``RATELIMIT_ENABLED``), then
any ``FLASK_*`` variable, then the mapping a test passes in.
"""

import os
import secrets
from pathlib import Path

from flask import Flask

# Environment variables named by the contract (DESIGN.md), without a prefix.
CONTRACT_ENV = ("COMMENTS_DB", "SECRET_KEY", "SITE_URL", "RATELIMIT_ENABLED")


def create_app(test_config=None):
    """Create and configure the app."""
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
        SITE_URL=None,
        RATELIMIT_ENABLED=True,
        # Serve the built site too (one process for `make serve`); in
        # production nginx serves it and proxies only the service's prefixes.
        SERVE_SITE=True,
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

    from comments_service import site

    app.register_error_handler(404, site.not_found)
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
