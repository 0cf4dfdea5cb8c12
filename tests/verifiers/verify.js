// The npm `standardwebhooks` package checking events SmartSupport sent, for
// tests/integration/test_verifiers.py: an implementation other than the Python one that signs them.
// stdin: {"secrets": [...], "events": [{"body", "headers"}, ...]}; stdout: for each event, for each
// secret, "ok" or the verifier's error.
"use strict";
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  input += chunk;
});
process.stdin.on("end", () => {
  const { secrets, events } = JSON.parse(input);
  const verifiers = secrets.map((secret) => new Webhook(secret));
  const results = events.map(({ body, headers }) =>
    verifiers.map((webhook) => {
      try {
        const event = webhook.verify(body, headers);
        return event.id === headers["webhook-id"] ? "ok" : `verified, but its id is ${event.id}`;
      } catch (err) {
        return String(err.message || err);
      }
    }),
  );
  process.stdout.write(JSON.stringify(results));
});
