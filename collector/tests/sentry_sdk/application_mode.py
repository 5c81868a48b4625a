"""A tiny "app" reporting to vitals through the real, unmodified sentry-sdk
in application mode: each session is sent as `session` updates, several per
session (its start, an update when an error is reported, its end), each in
an envelope of its own, as a mobile SDK sends them while the app runs. The
Python SDK marks every update of a session `init: true`.

    python3 application_mode.py DSN USER PLAN

PLAN is one character per session:
  o  a session that ends normally (exited)
  e  a session with a handled error that ends normally (no crash)
  c  a session that ends crashed (the SDK's status after an unhandled error)
  a  a session that ends abnormally (killed, not a crash)
  C  last: a real unhandled exception ends the process; the SDK's excepthook
     reports it and the session ends crashed at exit

Prints what it did as JSON: {"sessions": n, "crashed": c}.
"""
import atexit
import json
import sys

import sentry_sdk
from sentry_sdk.session import Session

dsn, user, plan = sys.argv[1], sys.argv[2], sys.argv[3]
RELEASE = "sdk-app@5.0.0+50"

sentry_sdk.init(
    dsn=dsn,
    release=RELEASE,
    environment="test",
    auto_session_tracking=False,
)
sentry_sdk.set_user({"id": user})
client = sentry_sdk.get_client()


def send(session):
    # Each update leaves in an envelope of its own.
    client.capture_session(session)
    sentry_sdk.flush()


def validate_order(qty):
    if qty > 100:
        raise ValueError(f"quantity {qty} over the limit")
    return qty


done = {"sessions": 0, "crashed": 0}
for step in plan:
    if step == "C":
        break
    s = Session(
        release=RELEASE,
        environment="test",
        user={"id": user},
        session_mode="application",
    )
    send(s)  # the start
    if step == "e":
        try:
            validate_order(500)
        except ValueError:
            sentry_sdk.capture_exception()
        s.update(errors=s.errors + 1)
        send(s)  # an update while it runs
    s.update(duration=1.5)
    send(s)  # another while it runs
    if step == "c":
        s.update(status="crashed")
    elif step == "a":
        s.update(status="abnormal")
    else:
        s.close()  # exited
    send(s)  # the end
    done["sessions"] += 1
    done["crashed"] += step == "c"

if plan.endswith("C"):
    done["sessions"] += 1
    done["crashed"] += 1
    print(json.dumps(done), flush=True)
    sentry_sdk.get_isolation_scope().start_session(session_mode="application")
    # Registered after sentry_sdk.init, so it runs before the SDK's own
    # atexit flush: the crashed session is sent.
    atexit.register(lambda: sentry_sdk.get_isolation_scope().end_session())
    validate_order(1000)  # unhandled: the excepthook integration reports it
print(json.dumps(done))
