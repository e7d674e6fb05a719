"""Extension objects shared by the blueprints, bound to the app in ``create_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

# Limits live in memory, per process: enough for one server process; several
# gunicorn workers each count on their own (see README).
limiter = Limiter(key_func=get_remote_address, storage_uri="memory://")

# Every POST carries a token unless its view is exempt; the public comment form
# is exempt and checked by origin instead (see public.py).
csrf = CSRFProtect()
