"""A real SMTP server for the tests (aiosmtpd, on a loopback port), and what it received."""

import asyncio
import email
import email.policy
import re
import socket
import threading
from contextlib import contextmanager

from aiosmtpd.controller import Controller


class Inbox:
    """What the server accepted, in order. ``delay``: seconds each DATA takes
    (a slow server); ``refuse_first``: answer that many DATA commands with a
    temporary failure (451) before accepting, recording them in ``refused``."""

    def __init__(self, delay=0.0, refuse_first=0):
        self.delay, self.refuse_first = delay, refuse_first
        self.envelopes, self.refused = [], []
        self._changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._changed:
            if len(self.refused) < self.refuse_first:
                self.refused.append(envelope)
                return "451 Try again later"
            self.envelopes.append(envelope)
            self._changed.notify_all()
        return "250 OK"

    def wait_for(self, count, timeout=10):
        """True once ``count`` emails have arrived (False after ``timeout`` seconds)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.envelopes) >= count, timeout)

    @property
    def messages(self):
        return [parse(envelope) for envelope in self.envelopes]

    def message_ids(self):
        return [message["Message-ID"] for message in self.messages]


def parse(envelope):
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def free_port():
    with socket.socket() as probe:  # aiosmtpd cannot take port 0
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_smtp_server(port=None, inbox=None):
    """An SMTP server on ``port`` (a free one by default); yields (port, inbox)."""
    inbox = inbox or Inbox()
    port = port or free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def smtp_settings(port, to="maya@careers.example"):
    """The app settings that send through the test server."""
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_STARTTLS": False,
        "SMTP_FROM": "blog@careers.example",
        "SMTP_TO": to,
    }


def text_of(message):
    """The plain text of an email, with the line ends it was written with."""
    return message.get_content().replace("\r\n", "\n")


def links(message):
    """The one-tap links of an admin email: {"Approve": url, "Spam": ..., "Trash": ...}."""
    return dict(re.findall(r"^(Approve|Spam|Trash):\s+(\S+)$", text_of(message), re.MULTILINE))
