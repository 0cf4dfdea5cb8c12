import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";

import * as api from "../api.js";
import { clock, ms, percent, STAGE_NAMES, STAGES, words } from "../format.js";
import { CategoryBadge, StatusBadge } from "./Badges.jsx";
import Correction from "./Correction.jsx";
import { PriorityBadge, SlaCountdown } from "./Sla.jsx";
import { SignalList, UrgencyBadge } from "./Urgency.jsx";
import WebhookLog from "./WebhookLog.jsx";

/** One ticket in full, kept live while open; Escape or × closes it. */
export default function TicketDetail({ id, labels, levels, onClose }) {
  const ticket = useQuery({ queryKey: ["ticket", id], queryFn: () => api.getTicket(id), refetchInterval: 2000 });

  useEffect(() => {
    const closeOnEscape = (event) => event.key === "Escape" && onClose();
    window.addEventListener("keydown", closeOnEscape);
    return () => window.removeEventListener("keydown", closeOnEscape);
  }, [onClose]);

  return (
    <aside className="drawer" aria-label="Ticket detail">
      <div className="card-head">
        <h2>Ticket detail</h2>
        <button type="button" className="close" aria-label="Close" onClick={onClose}>×</button>
      </div>
      {ticket.data ? (
        <DetailBody ticket={ticket.data} labels={labels} levels={levels} />
      ) : (
        <p className={ticket.isError ? "error" : "muted"}>{ticket.error?.message ?? "Loading the ticket…"}</p>
      )}
    </aside>
  );
}

function DetailBody({ ticket, labels, levels }) {
  const { category, urgency } = ticket;
  return (
    <>
      <section>
        <h3>Message</h3>
        {ticket.subject && <p className="subject">{ticket.subject}</p>}
        <p className="muted small">
          {ticket.id} · received {clock(ticket.created_at)} · <StatusBadge status={ticket.status} />
        </p>
        <p className="fulltext">{ticket.body}</p>
        {ticket.error && <p className="error">{ticket.error}</p>}
        {ticket.status === "failed" && <RetryButton id={ticket.id} />}
        {ticket.incident && (
          <p className="small incident-member">
            <span className="badge level-critical">incident</span> part of incident {ticket.incident}
          </p>
        )}
      </section>
      <section>
        <h3>Category</h3>
        <p><CategoryBadge category={category} /></p>
        {category?.corrected && category.original_label && (
          <p className="muted small">Corrected by an operator; the model said {category.original_label}.</p>
        )}
        {category && <ScoreBars scores={category.scores} chosen={category.label} />}
        <Correction ticket={ticket} what="category" current={category?.label} choices={labels}
          save={api.correctCategory} />
      </section>
      <section>
        <h3>Urgency</h3>
        {urgency ? (
          <>
            <p>
              <UrgencyBadge urgency={urgency} />{" "}
              <span className="muted small">sentiment {urgency.sentiment.toFixed(2)}</span>
            </p>
            {urgency.corrected && urgency.original_level && (
              <p className="muted small">Corrected by an operator; the score said {urgency.original_level}.</p>
            )}
            <SignalList signals={urgency.signals} />
            <Correction ticket={ticket} what="urgency" current={urgency.level} choices={levels}
              save={api.correctUrgency} />
          </>
        ) : (
          <p className="muted">Not scored yet.</p>
        )}
      </section>
      {ticket.route && (
        <section>
          <h3>Route</h3>
          <RouteView route={ticket.route} />
          {ticket.audit && <WaitButton id={ticket.id} route={ticket.route} />}
        </section>
      )}
      {ticket.audit && (
        <section>
          <h3>Audit trail</h3>
          <AuditTrail entries={ticket.audit} />
        </section>
      )}
      <section>
        <h3>Timings</h3>
        <Timings timings={ticket.timings_ms} />
      </section>
      <section>
        <h3>Webhook</h3>
        <WebhookLog ticket={ticket} />
      </section>
    </>
  );
}

/** Which team owns the ticket and why, its priority, its deadlines (in business hours where its policy has a
 * calendar) and who holds it. */
function RouteView({ route }) {
  const { sla } = route;
  return (
    <dl className="route" data-testid="detail-route">
      <dt>Team</dt>
      <dd data-testid="detail-team"><strong>{route.team}</strong> <PriorityBadge priority={route.priority} /></dd>
      <dt>Rule</dt>
      <dd>
        {route.rule?.name ?? "–"}
        {route.rule?.why && <span className="muted small"> · {route.rule.why}</span>}
      </dd>
      <dt>SLA</dt>
      <dd className="small" data-testid="detail-policy">
        {sla ? (
          <>{sla.policy} · {sla.calendar ? `${sla.calendar} business hours` : "around the clock"}</>
        ) : (
          <span className="muted">no deadline</span>
        )}
      </dd>
      {sla?.first_response_due != null && (
        <>
          <dt>First response</dt>
          <dd><SlaCountdown route={route} testId="detail-sla" detailed /></dd>
        </>
      )}
      {sla?.resolution_due != null && (
        <>
          <dt>Resolution</dt>
          <dd><SlaCountdown route={route} target="resolution" testId="detail-sla-resolution" detailed /></dd>
        </>
      )}
      {route.waiting_since != null && (
        <>
          <dt>Waiting</dt>
          <dd data-testid="detail-waiting">on the customer since {clock(route.waiting_since)}</dd>
        </>
      )}
      <dt>Assignee</dt>
      <dd data-testid="detail-assignee">
        {route.assignee ?? <span className="muted">unassigned</span>}
        {route.assigned_at != null && <span className="muted small"> · since {clock(route.assigned_at)}</span>}
      </dd>
      {route.acknowledged_at != null && (
        <>
          <dt>Acknowledged</dt>
          <dd>
            {clock(route.acknowledged_at)}
            {route.acknowledged_by && <span className="muted small"> by {route.acknowledged_by}</span>}
          </dd>
        </>
      )}
      {route.resolved_at != null && (
        <>
          <dt>Resolved</dt>
          <dd>{clock(route.resolved_at)}</dd>
        </>
      )}
      {route.destinations?.length > 0 && (
        <>
          <dt>Alerted</dt>
          <dd className="small">{route.destinations.join(", ")}</dd>
        </>
      )}
    </dl>
  );
}

const ACTIONS = {
  assigned: "assigned it",
  acknowledged: "acknowledged it",
  resolved: "resolved it",
  category_corrected: "corrected the category",
  urgency_corrected: "corrected the urgency",
  rerouted: "rerouted it",
  waiting: "set it waiting on the customer",
  replied: "added the customer's reply",
  released: "took it back",
};

/** Who did what to the ticket, oldest first (operators show as `operator:<key fingerprint>`). */
function AuditTrail({ entries }) {
  if (entries.length === 0) return <p className="muted small">Nobody has acted on it yet.</p>;
  return (
    <ol className="audit small" data-testid="detail-audit">
      {entries.map((entry, i) => (
        <li key={i}>
          <span className="muted">{clock(entry.at)}</span> <strong>{entry.actor}</strong>{" "}
          {ACTIONS[entry.action] ?? entry.action}
          {auditDetail(entry) && <span className="muted"> · {auditDetail(entry)}</span>}
        </li>
      ))}
    </ol>
  );
}

function auditDetail({ action, detail }) {
  if (action === "category_corrected") return `${detail.previous_label ?? "none"} → ${detail.label}`;
  if (action === "urgency_corrected") return `${detail.previous_level ?? "none"} → ${detail.level}`;
  if (action === "rerouted") return `${detail.previous_team} → ${detail.team}`;
  if (action === "assigned") {
    const how = detail.assignment ? ` (${words(detail.assignment)})` : "";
    return `to ${detail.agent}${detail.team ? ` in ${detail.team}` : ""}${how}`;
  }
  if (action === "released") return `from ${detail.agent}${detail.why ? `: ${detail.why}` : ""}`;
  return detail.agent ? `for ${detail.agent}` : "";
}

/** Waiting on the customer: the SLA clock pauses until they reply (an open ticket not waiting already). */
function WaitButton({ id, route }) {
  const queryClient = useQueryClient();
  const waiting = useMutation({
    mutationFn: () => api.waitOnCustomer(id),
    onSuccess: (view) => {
      queryClient.setQueryData(["ticket", id], view);
      queryClient.invalidateQueries({ queryKey: ["tickets"] });
    },
  });
  if (route.resolved_at != null || route.waiting_since != null) return null;
  return (
    <div className="inline-form">
      <button type="button" data-testid="wait-on-customer" onClick={() => waiting.mutate()}
              disabled={waiting.isPending} title="Pause the SLA clock until the customer replies">
        Waiting on customer
      </button>
      {waiting.isError && <span className="error" role="alert">{waiting.error.message}</span>}
    </div>
  );
}

/** The model's probability for every label, most likely first. */
function ScoreBars({ scores, chosen }) {
  const ranked = Object.entries(scores).sort(([, a], [, b]) => b - a);
  return (
    <ul className="bars">
      {ranked.map(([label, p]) => (
        <li key={label} className={label === chosen ? "chosen" : undefined}>
          <span className="bar-label">{label}</span>
          <span className="bar"><span style={{ width: percent(p) }} /></span>
          <span className="bar-value">{percent(p)}</span>
        </li>
      ))}
    </ul>
  );
}

/** Time spent in each stage, as a share of the total. */
function Timings({ timings }) {
  if (timings.total == null) return <p className="muted">Not finished yet.</p>;
  return (
    <ul className="bars">
      {STAGES.map((stage) => (
        <li key={stage} className={stage === "total" ? "chosen" : undefined}>
          <span className="bar-label">{STAGE_NAMES[stage]}</span>
          <span className="bar"><span style={{ width: percent((timings[stage] ?? 0) / timings.total) }} /></span>
          <span className="bar-value">{ms(timings[stage])}</span>
        </li>
      ))}
    </ul>
  );
}

/** Send a failed ticket through the pipeline again; the stages that succeeded are kept. */
function RetryButton({ id }) {
  const queryClient = useQueryClient();
  const retry = useMutation({
    mutationFn: () => api.retryTicket(id),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["ticket", id] }),
  });
  return (
    <div className="inline-form">
      <button type="button" onClick={() => retry.mutate()} disabled={retry.isPending}>Retry</button>
      {retry.isError && <span className="error" role="alert">{retry.error.message}</span>}
    </div>
  );
}
