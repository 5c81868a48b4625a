"""A tiny WSGI "service" reporting to vitals through the real, unmodified
sentry-sdk in request mode: the SDK's WSGI middleware opens a session per
request (session_mode="request"), and the SDK's session flusher sends them
as `sessions` aggregates (per-minute buckets of exited/errored/crashed
counts), never as single session updates.

    python3 request_mode.py DSN PLAN

PLAN is one character per step:
  o  a request that succeeds
  c  a request whose handler raises (unhandled: the session is crashed)
  e  a request that reports a handled error and succeeds (errored, no crash)
  f  a request that sends capture_message(level="fatal") and succeeds
     (handled: no crash)
  |  sentry_sdk.flush(): the pending aggregates go out now, as a worker of
     a busy server sends them every flush interval

Prints what it did as JSON: {"requests": n, "crashed": c}.
"""
import json
import sys
from wsgiref.util import setup_testing_defaults

import sentry_sdk
from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

dsn, plan = sys.argv[1], sys.argv[2]

sentry_sdk.init(
    dsn=dsn,
    release="sdk-request@4.0.0+40",
    environment="test",
    server_name="api-1",
    # The default, spelled out: request mode tracks a session per request.
    auto_session_tracking=True,
)


def validate_order(qty):
    if qty > 100:
        raise ValueError(f"quantity {qty} over the limit")
    return qty


def app(environ, start_response):
    step = environ["QUERY_STRING"]
    if step == "c":
        validate_order(1000)
    elif step == "e":
        try:
            validate_order(500)
        except ValueError:
            sentry_sdk.capture_exception()
    elif step == "f":
        sentry_sdk.capture_message("order book stale", level="fatal")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


service = SentryWsgiMiddleware(app)
done = {"requests": 0, "crashed": 0}
for step in plan:
    if step == "|":
        sentry_sdk.flush()
        continue
    environ = {}
    setup_testing_defaults(environ)
    environ["QUERY_STRING"] = step
    try:
        body = service(environ, lambda status, headers, exc_info=None: None)
        b"".join(body)
    except ValueError:
        done["crashed"] += 1
    done["requests"] += 1
sentry_sdk.flush()
print(json.dumps(done))
