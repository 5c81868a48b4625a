// One run of a tiny Node "app" reporting to vitals through the real,
// unmodified @sentry/node: a release-health session per run and, when
// asked, an uncaught exception that ends the run as a crash.
//
//   node node_app.mjs DSN USER_ID crash|ok
import * as Sentry from "@sentry/node";

const [dsn, user, mode] = process.argv.slice(2);

Sentry.init({ dsn, release: "sdk-node@3.0.0+30", environment: "test", tracesSampleRate: 0 });
Sentry.setUser({ id: user });
// The SDK's process-session integration opens the release-health session
// at init and ends it at exit (exited, or crashed on an uncaught error).

function validateOrder(qty) {
  if (qty > 100) throw new RangeError(`quantity ${qty} over the limit`);
  return qty;
}

function placeOrder(qty) {
  return validateOrder(qty);
}

if (mode === "crash") {
  // Uncaught: the onUncaughtException integration reports it and exits.
  setTimeout(() => placeOrder(1000), 0);
} else {
  // A normal exit: the integration ends the session as "exited" and
  // flushes it on the way out (an explicit close() would drop it).
  placeOrder(10);
}
