"""Extension objects shared by the blueprints, bound to the app in ``create_app``."""

import threading
import time
from collections import OrderedDict, deque

import limits
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

# Limits live in memory, per process: enough for one server process; several
# gunicorn workers each count on their own (see README).
limiter = Limiter(key_func=get_remote_address, storage_uri="memory://")

# Every POST carries a token unless its view is exempt; the public comment form
# is exempt and checked by origin instead (see public.py).
csrf = CSRFProtect()


class LoginThrottle:
    """Failed logins, counted so that an attacker cannot lock the admin out.

    Failures are counted per (username, address) and per address, and only
    those refuse: the admin's own address keeps working whatever another
    address does. Per username across all addresses the answer is only slowed
    down (a delay doubling from ``slow_base`` up to ``slow_max`` seconds), so a
    guess spread over many addresses is slow and the admin still gets in.
    Only failures count; a success clears its (username, address) pair.

    The counters live in memory, per process, as Flask-Limiter's did: with
    several gunicorn workers each counts on its own, so an address gets up to
    (workers x limit) tries a window. That is acceptable for a password
    hashed with scrypt (each try costs the attacker a few hundred ms of our
    CPU, and the username slow-down still applies in every worker); the
    counts are lost on a restart, which an attacker cannot trigger.
    """

    # At most this many keys are remembered (oldest forgotten first), so that
    # a spray of made-up usernames or addresses cannot grow memory unbounded.
    MAX_KEYS = 10_000

    def __init__(
        self,
        pair_limit="5 per minute",
        address_limit="20 per minute",
        slow_after=5,
        slow_window=15 * 60,
        slow_base=0.25,
        slow_max=2.0,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        self.pair_limit = limits.parse(pair_limit)
        self.address_limit = limits.parse(address_limit)
        self.slow_after, self.slow_window = slow_after, slow_window
        self.slow_base, self.slow_max = slow_base, slow_max
        self.clock, self.sleep = clock, sleep
        self._failures = OrderedDict()  # key -> deque of failure times, newest last
        self._lock = threading.Lock()

    def _recent(self, key, window):
        """Failure times of ``key`` within the last ``window`` seconds."""
        times = self._failures.get(key)
        if not times:
            return []
        since = self.clock() - window
        return [t for t in times if t > since]

    def retry_after(self, username, address):
        """Seconds until this pair or address may try again; 0 when it may now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key, limit in (
                (("pair", username, address), self.pair_limit),
                (("address", address), self.address_limit),
            ):
                window = limit.get_expiry()
                recent = self._recent(key, window)
                if len(recent) >= limit.amount:
                    # The oldest failure that still counts must leave the window.
                    wait = max(wait, recent[-limit.amount] + window - now)
        return wait

    def delay(self, username):
        """The slow-down for ``username`` now: 0, then doubling up to ``slow_max``."""
        with self._lock:
            failures = len(self._recent(("username", username), self.slow_window))
        if failures < self.slow_after:
            return 0.0
        # Capped before the power, so a huge count cannot overflow the float.
        return min(self.slow_max, self.slow_base * 2 ** min(failures - self.slow_after, 32))

    def slow_down(self, username):
        """Wait before checking a password for ``username``; return the delay."""
        seconds = self.delay(username)
        if seconds:
            self.sleep(seconds)
        return seconds

    def failed(self, username, address):
        now = self.clock()
        keep = {
            ("pair", username, address): self.pair_limit.amount,
            ("address", address): self.address_limit.amount,
            # Enough failures to reach the cap of the slow-down, no more.
            ("username", username): self.slow_after + 32,
        }
        with self._lock:
            for key, most in keep.items():
                times = self._failures.pop(key, None) or deque(maxlen=most)
                times.append(now)
                self._failures[key] = times  # newest used last, for eviction
            while len(self._failures) > self.MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, username, address):
        with self._lock:
            self._failures.pop(("pair", username, address), None)
