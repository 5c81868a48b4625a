"""One run of a tiny Python "app" reporting to vitals through the real,
unmodified sentry-sdk: a release-health session per run, and — when asked —
an unhandled exception that ends the run (and the session) as a crash.

    python3 python_app.py DSN USER_ID crash|ok
"""
import atexit
import sys

import sentry_sdk

dsn, user, mode = sys.argv[1], sys.argv[2], sys.argv[3]

sentry_sdk.init(
    dsn=dsn,
    release="sdk-python@2.0.0+20",
    environment="test",
    auto_session_tracking=False,
    default_integrations=True,
)
sentry_sdk.set_user({"id": user})
scope = sentry_sdk.get_isolation_scope()
scope.start_session(session_mode="application")


def end_session():
    # Registered after sentry_sdk.init, so it runs before the SDK's own
    # atexit flush: the ended session (crashed or exited) is sent.
    sentry_sdk.get_isolation_scope().end_session()


atexit.register(end_session)


def validate_order(qty):
    if qty > 100:
        raise ValueError(f"quantity {qty} over the limit")
    return qty


def place_order(qty):
    return validate_order(qty)


if mode == "crash":
    place_order(1000)  # unhandled: the excepthook integration reports it
else:
    place_order(10)
