import { useEffect, useState } from "react";

import { dayTime, duration, openDuration } from "../format.js";

/** The route's priority (P1 most urgent). */
export function PriorityBadge({ priority }) {
  if (!priority) return <span className="muted">–</span>;
  return <span className={`badge priority priority-${priority.toLowerCase()}`}>{priority}</span>;
}

// Each deadline of a route: its keys in `route.sla` and `open_s_left`, and its words.
const TARGETS = {
  first_response: {
    due: "first_response_due", warning: "warning_at", breached: "breached",
    running: "due in", open: "open time left", late: "breached",
  },
  resolution: {
    due: "resolution_due", warning: "resolution_warning_at", breached: "resolution_breached",
    running: "resolve in", open: "open time left to resolve", late: "resolution breached",
  },
};

/**
 * One deadline of a route (`target`: the first response, until acknowledged, or the resolution, until
 * resolved). On the wall clock, "due in 3m 12s", ticking every second; in business hours, the open time
 * left as the API counted it (`sla.open_s_left`), ticking down only while the calendar is open, and
 * "clock stopped: office closed until …" while it is closed. Orange after the warning, red once the due
 * instant passed or the scheduler said so, "paused" while the ticket waits on the customer, and once
 * met the clock stops. A target the policy does not set shows nothing. `detailed` puts the due instant
 * (and why the clock stands still) beside the countdown instead of in its tooltip.
 */
export function SlaCountdown({ route, testId, target = "first_response", detailed = false }) {
  const sla = route?.sla;
  const first = target === "first_response";
  if (!route) return first ? <span className="sla muted" data-testid={testId}>not routed yet</span> : null;
  if (sla ? sla[TARGETS[target].due] == null : !first) return null;
  const metAt = first ? (route.acknowledged_at ?? route.resolved_at) : route.resolved_at;
  if (metAt != null) return <Met route={route} target={target} at={metAt} testId={testId} />;
  if (!sla) return <span className="sla muted" data-testid={testId} data-state="none">no deadline</span>;
  if (route.waiting_since != null || sla.paused_at != null) {
    return <Paused sla={sla} target={target} testId={testId} detailed={detailed} />;
  }
  return <Ticking sla={sla} target={target} testId={testId} detailed={detailed} />;
}

function Met({ route, target, at, testId }) {
  const { due, breached } = TARGETS[target];
  const sla = route.sla;
  const late = sla && (sla[breached] || at > sla[due]);
  const state = route.resolved_at != null ? "resolved" : "acknowledged";
  return (
    <span className={`sla sla-stopped${late ? " sla-late" : ""}`} data-testid={testId} data-state={state}
          title={`${state} at ${dayTime(at)}`}>
      {state}{late ? " (after the deadline)" : ""}
    </span>
  );
}

function Paused({ sla, target, testId, detailed }) {
  const left = sla.open_s_left?.[target];
  const note = left == null ? "" : `${openDuration(left)} left when the customer replies`;
  return (
    <>
      <span className="sla sla-paused" data-testid={testId} data-state="paused" title={note}>
        paused (waiting on the customer)
      </span>
      {detailed && note && <span className="muted small"> · <span data-testid={`${testId}-note`}>{note}</span></span>}
    </>
  );
}

/** Mounted only while the clock may run: its interval goes with it. */
function Ticking({ sla, target, testId, detailed }) {
  const now = useNow(1000) / 1000;
  const words = TARGETS[target];
  const due = sla[words.due];
  const business = sla.calendar != null && sla.open_s_left?.[target] != null && sla.clock != null;
  const stopped = business && !sla.clock.running;
  const note = stopped && sla.clock.opens_at != null
    ? `clock stopped: office closed until ${dayTime(sla.clock.opens_at)} · due ${dayTime(due)}`
    : `due ${dayTime(due)}`;
  const aside = detailed && <span className="muted small"> · <span data-testid={`${testId}-note`}>{note}</span></span>;
  if (sla[words.breached] || due <= now) {
    return (
      <>
        <span className="sla sla-breached" data-testid={testId} data-state="breached" title={note}>
          {words.late}{due <= now ? ` ${duration(now - due)} ago` : ""}
        </span>
        {aside}
      </>
    );
  }
  const warning = sla[words.warning] != null && now >= sla[words.warning];
  const state = stopped ? "stopped" : warning ? "warning" : "running";
  const text = business
    ? `${openDuration(openLeft(sla, target, now))} ${words.open}`
    : `${words.running} ${duration(due - now)}`;
  return (
    <>
      <span className={`sla${warning ? " sla-warning" : ""}`} data-testid={testId} data-state={state} title={note}>
        {text}
      </span>
      {aside}
    </>
  );
}

/** The open time left now: the API's count, less the time since it counted while its calendar stayed open. */
function openLeft(sla, target, now) {
  const { at, running, closes_at: closesAt } = sla.clock;
  const counted = sla.open_s_left[target];
  return running ? counted - Math.max(0, Math.min(now, closesAt ?? Infinity) - at) : counted;
}

function useNow(intervalMs) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
