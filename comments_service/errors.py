"""Errors, translated once at the edge: JSON for the page's script, a page in the
site's look for everyone else, always with a sentence a person can act on."""

from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from comments_service import site
from comments_service.db import disk_is_full

MESSAGES = {
    400: "The request was not understood. Please go back and try again.",
    403: "That is not allowed.",
    405: "That address does not accept this kind of request.",
    413: "That is too long to send. Please shorten your comment and try again.",
    429: "Too many attempts in a short time. Please wait a minute and try again.",
    500: "Something went wrong on our side, and it has been logged. Please try again later.",
    503: "The site cannot store anything right now (its disk is full). Nothing you sent "
    "was saved: please keep your text and try again in a few minutes.",
}
# How long a client should wait before retrying after a 503 (seconds).
RETRY_AFTER_FULL_DISK = 120
RETRY_LATER = {"Retry-After": str(RETRY_AFTER_FULL_DISK)}


def wants_json():
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > 0


def error_response(status, message):
    if wants_json():
        return jsonify(error=message), status
    return render_template("comments/message.html", title=message, message=message), status


def handle_http_error(error: HTTPException):
    if error.code == 404 and not wants_json():
        return site.not_found(error)
    message = MESSAGES.get(error.code) or error.description
    return error_response(error.code, message)


def handle_unexpected_error(error):
    """Any unhandled exception: Flask has logged the traceback; the client gets
    a sentence in its own format, never the traceback."""
    original = getattr(error, "original_exception", None)
    if original is not None and disk_is_full(original):
        return (*error_response(503, MESSAGES[503]), RETRY_LATER)
    return error_response(500, MESSAGES[500])


def init_app(app):
    for code in (400, 403, 404, 405, 413, 429):
        app.register_error_handler(code, handle_http_error)
    app.register_error_handler(500, handle_unexpected_error)
