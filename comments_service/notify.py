"""Email the admin about each new pending comment, when SMTP is configured.

Plain text only, so nothing in a comment can render as HTML in a mail
client; header fields are single lines. Sending happens in a background
thread: a slow mail server must never slow down or fail a reader's
submission. Without ``SMTP_HOST`` nothing is sent.
"""

import logging
import smtplib
import threading
from email.message import EmailMessage

from comments_service.render import clean_line

log = logging.getLogger(__name__)


def mail_settings(config):
    keys = ("HOST", "PORT", "USER", "PASSWORD", "FROM", "TO", "STARTTLS")
    return {k.lower(): config.get(f"SMTP_{k}") for k in keys}


def notifications_enabled(config):
    return bool(config.get("SMTP_HOST") and config.get("SMTP_TO"))


def build_message(settings, comment, post_title, queue_url):
    message = EmailMessage()
    message["Subject"] = clean_line(f"New comment awaiting approval on “{post_title}”")[:200]
    message["From"] = settings["from"]
    message["To"] = settings["to"]
    lines = [
        f"{comment['author_name']} left a comment on “{post_title}”.",
        "",
        f"Name:    {comment['author_name']}",
        f"Email:   {comment['email'] or '(none)'}",
        f"Website: {comment['website'] or '(none)'}",
    ]
    if comment.get("reason"):
        lines.append(f"Held:    {comment['reason']}")
    lines += ["", "-" * 60, comment["body"], "-" * 60, "", f"Review it: {queue_url}", ""]
    message.set_content("\n".join(lines))
    return message


def send(settings, message):
    port = int(settings["port"] or 25)
    with smtplib.SMTP(settings["host"], port, timeout=20) as smtp:
        if str(settings["starttls"]).lower() in {"1", "true", "yes"}:
            smtp.starttls()
        if settings["user"]:
            smtp.login(settings["user"], settings["password"] or "")
        smtp.send_message(message)


def notify_new_comment(config, comment, post_title, queue_url):
    """Send the notification in the background; return the thread (or None when off)."""
    settings = mail_settings(config)
    if not settings["host"] or not settings["to"]:
        return None
    settings["from"] = settings["from"] or settings["to"]
    message = build_message(settings, comment, post_title, queue_url)

    def deliver():
        try:
            send(settings, message)
        # The comment is safely stored; a mail failure is logged, never raised
        # into the reader's request.
        except (OSError, smtplib.SMTPException):
            log.exception("Could not send the new-comment notification")

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    return thread
