import { useEffect, useState } from "react";

import { clock, duration } from "../format.js";

/** The route's priority (P1 most urgent). */
export function PriorityBadge({ priority }) {
  if (!priority) return <span className="muted">–</span>;
  return <span className={`badge priority priority-${priority.toLowerCase()}`}>{priority}</span>;
}

/**
 * The first-response deadline of a route: "due in 3m 12s", ticking every second from
 * `first_response_due`; "breached" (red) once it passed or the scheduler said so; and, once the ticket is
 * acknowledged (or resolved), the clock stops: no more ticking.
 */
export function SlaCountdown({ route, testId }) {
  const sla = route?.sla;
  if (!route) return <span className="sla muted" data-testid={testId}>not routed yet</span>;
  if (route.resolved_at != null || route.acknowledged_at != null) {
    const at = route.acknowledged_at ?? route.resolved_at;
    const late = sla && (sla.breached || at > sla.first_response_due);
    const state = route.resolved_at != null ? "resolved" : "acknowledged";
    return (
      <span className={`sla sla-stopped${late ? " sla-late" : ""}`} data-testid={testId} data-state={state}
            title={`first response at ${clock(at)}`}>
        {state}{late ? " (after the deadline)" : ""}
      </span>
    );
  }
  if (!sla) return <span className="sla muted" data-testid={testId} data-state="none">no deadline</span>;
  return <Ticking sla={sla} testId={testId} />;
}

/** Mounted only while the clock runs: its interval goes with it. */
function Ticking({ sla, testId }) {
  const now = useNow(1000);
  const left = sla.first_response_due - now / 1000;
  const due = `due at ${clock(sla.first_response_due)}`;
  if (sla.breached || left <= 0) {
    return (
      <span className="sla sla-breached" data-testid={testId} data-state="breached" title={due}>
        breached{left <= 0 ? ` ${duration(-left)} ago` : ""}
      </span>
    );
  }
  const warning = sla.warning_at != null && now / 1000 >= sla.warning_at;
  return (
    <span className={`sla${warning ? " sla-warning" : ""}`} data-testid={testId}
          data-state={warning ? "warning" : "running"} title={due}>
      due in {duration(left)}
    </span>
  );
}

function useNow(intervalMs) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
