import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import * as api from "../api.js";
import { duration, excerpt } from "../format.js";
import { PriorityBadge, SlaCountdown } from "./Sla.jsx";

const FILTERS = { all: "All", waiting: "Waiting", mine: "Mine", breached: "Breached" };

/** One queue per team (from the routing file), polled: how work reaches its members, each member's presence
 * and load, depth, breaches, taking the next ticket, and each open ticket with its live SLA countdowns,
 * acknowledge and resolve. Signed in with an agent's key (`signedInAgent`), only that agent's teams, and every
 * action is theirs: no agent to pick. */
export default function TeamsPanel({ onSelect, signedInAgent = null }) {
  const teams = useQuery({ queryKey: ["teams"], queryFn: api.getTeams, refetchInterval: 3000 });
  const routing = teams.data?.routing;

  return (
    <section className="card teams" aria-label="Teams" data-testid="teams-panel">
      <div className="card-head">
        <h2>Team queues</h2>
        {routing && (
          <span className="muted small" title={routing.rules.join(", ")}>
            {routing.file ? `routing from ${routing.file}` : "default routing (one team per category)"} ·{" "}
            {routing.rules.length} {routing.rules.length === 1 ? "rule" : "rules"}
          </span>
        )}
      </div>
      {routing?.error && (
        <p className="warning" role="alert" data-testid="routing-error">
          The routing file changed but did not reload; the previous rules stay in force: {routing.error}
        </p>
      )}
      {teams.data ? (
        <>
          {teams.isError && (
            <p className="error" role="alert">{teams.error.message} (showing the last teams received)</p>
          )}
          {teams.data.teams.length === 0 ? (
            <p className="empty">No team is configured.</p>
          ) : (
            <div className="team-grid">
              {teams.data.teams.map((team) => (
                <TeamCard key={team.team} team={team} onSelect={onSelect} signedInAgent={signedInAgent} />
              ))}
            </div>
          )}
        </>
      ) : (
        <p className={teams.isError ? "error" : "muted"}>{teams.error?.message ?? "Loading the teams…"}</p>
      )}
    </section>
  );
}

function TeamCard({ team, onSelect, signedInAgent }) {
  const name = team.team;
  const members = team.members ?? [];
  const [chosen, setChosen] = useState(members[0]?.name ?? "");
  const picked = members.some((m) => m.name === chosen) ? chosen : (members[0]?.name ?? "");
  const agent = signedInAgent ?? picked;
  // What a request names: an agent's key acts as its own agent and names no one.
  const named = signedInAgent ? undefined : agent;
  const [filter, setFilter] = useState("all");
  const [message, setMessage] = useState(null);
  const queryClient = useQueryClient();

  const tickets = useQuery({
    queryKey: ["tickets", "team", name],
    queryFn: () => api.listTeamTickets(name),
    refetchInterval: 2000,
    placeholderData: keepPreviousData,
  });
  const refresh = () => {
    queryClient.invalidateQueries({ queryKey: ["teams"] });
    queryClient.invalidateQueries({ queryKey: ["tickets"] });
  };
  const taking = useMutation({
    mutationFn: () => api.takeNext(name, named),
    onMutate: () => setMessage(null),
    onSuccess: (ticket) => {
      const what = ticket && `${ticket.id.slice(0, 8)}: ${excerpt(ticket.subject || ticket.body, 60)}`;
      setMessage({ ok: true, text: ticket ? `${agent} took ticket ${what}` : `No ticket waits in ${name}.` });
      refresh();
    },
    onError: (error) => setMessage({ ok: false, text: error.message }),
  });

  const open = (tickets.data ?? []).filter((t) => t.route && t.route.team === name && t.route.resolved_at == null);
  const shown = open.filter(FILTER_TESTS[filter](agent));

  return (
    <article className="team" aria-label={`Team ${name}`} data-testid={`team-${name}`}>
      <div className="team-head">
        <h3>{name}</h3>
        <span className="muted small" data-testid={`assignment-${name}`}>{ASSIGNMENT[team.assignment] ?? "pull"}</span>
      </div>
      <Members team={team} />
      <dl className="team-stats">
        <div><dt>Waiting</dt><dd data-testid={`waiting-${name}`}>{team.waiting}</dd></div>
        <div>
          <dt>Breaches</dt>
          <dd className={team.sla_breaches > 0 ? "error" : undefined} data-testid={`breaches-${name}`}>
            {team.sla_breaches}
          </dd>
        </div>
        <div><dt>Oldest waiting</dt><dd data-testid={`oldest-${name}`}>{duration(team.oldest_waiting_s)}</dd></div>
        <div><dt>Time to ack</dt><dd>{duration(team.mean_time_to_ack_s)}</dd></div>
      </dl>
      <div className="inline-form team-take">
        {signedInAgent ? (
          <span className="small" data-testid={`agent-${name}`}>as <strong>{signedInAgent}</strong></span>
        ) : (
          <label>
            Agent
            <select value={agent} onChange={(e) => setChosen(e.target.value)} data-testid={`agent-${name}`}
                    disabled={members.length === 0}>
              {members.map((m) => (
                <option key={m.name} value={m.name}>{m.name}{m.capacity != null ? ` (up to ${m.capacity})` : ""}</option>
              ))}
            </select>
          </label>
        )}
        <button type="button" className="primary" data-testid={`take-next-${name}`}
                disabled={!agent || taking.isPending} onClick={() => taking.mutate()}>
          Take next
        </button>
        {message && (
          <p className={message.ok ? "success" : "error"} role={message.ok ? "status" : "alert"}
             data-testid={`take-message-${name}`}>
            {message.text}
          </p>
        )}
      </div>
      <div className="segmented team-filters" role="group" aria-label={`Filter the ${name} queue`}>
        {Object.entries(FILTERS).map(([value, label]) => (
          <button key={value} type="button" aria-pressed={filter === value} data-testid={`filter-${name}-${value}`}
                  onClick={() => setFilter(value)}>
            {label} <span className="count">{open.filter(FILTER_TESTS[value](agent)).length}</span>
          </button>
        ))}
      </div>
      <TeamTickets tickets={tickets} shown={shown} agent={named} onSelect={onSelect} />
    </article>
  );
}

const ASSIGNMENT = {
  pull: "agents take the next ticket",
  round_robin: "pushed in turn to who is available",
  least_loaded: "pushed to the least loaded available",
};
const PRESENCE = { available: "available", away: "away", calendar: "follows calendar" };

/** Each member with their presence (there now or not: work is pushed only to those there) and open tickets. */
function Members({ team }) {
  const members = team.members ?? [];
  if (members.length === 0) return <p className="muted small">no members</p>;
  return (
    <ul className="members small" data-testid={`members-${team.team}`}>
      {members.map((m) => (
        <li key={m.name} data-testid={`member-${team.team}-${m.name}`} className={m.there ? "there" : "not-there"}
            title={m.there ? "there now: work may be pushed to them" : "not there now: no work is pushed to them"}>
          <strong>{m.name}</strong> <span className="muted">{PRESENCE[m.status] ?? m.status ?? "–"}</span>{" "}
          · {m.load ?? 0}{m.capacity != null ? `/${m.capacity}` : ""} open
        </li>
      ))}
    </ul>
  );
}

/** Whether a ticket belongs under each filter, for the chosen agent. */
const FILTER_TESTS = {
  all: () => () => true,
  waiting: () => (t) => !t.route.assignee,
  mine: (agent) => (t) => Boolean(agent) && t.route.assignee === agent,
  breached: () => (t) => isBreached(t.route),
};

function isBreached(route) {
  const sla = route.sla;
  if (!sla) return false;
  if (sla.breached || sla.resolution_breached) return true;
  const answeredAt = route.acknowledged_at ?? Date.now() / 1000;
  return sla.first_response_due != null && answeredAt > sla.first_response_due;
}

function TeamTickets({ tickets, shown, agent, onSelect }) {
  if (tickets.isPending) return <p className="muted small">Loading the queue…</p>;
  if (!tickets.data) return <p className="error" role="alert">{tickets.error.message}</p>;
  return (
    <>
      {tickets.isError && <p className="error small" role="alert">{tickets.error.message}</p>}
      {shown.length === 0 ? (
        <p className="muted small team-empty">No open ticket here.</p>
      ) : (
        <ul className="team-tickets">
          {shown.map((ticket) => <TeamTicket key={ticket.id} ticket={ticket} agent={agent} onSelect={onSelect} />)}
        </ul>
      )}
    </>
  );
}

function TeamTicket({ ticket, agent, onSelect }) {
  const { id, route } = ticket;
  const queryClient = useQueryClient();
  const refresh = (view) => {
    // Show the answer at once (the countdown stops now), then poll for everything it changed.
    queryClient.setQueryData(["ticket", id], view);
    queryClient.setQueriesData({ queryKey: ["tickets", "team"] }, (old) => old?.map((t) => (t.id === id ? view : t)));
    queryClient.invalidateQueries({ queryKey: ["teams"] });
    queryClient.invalidateQueries({ queryKey: ["tickets"] });
  };
  const acking = useMutation({ mutationFn: () => api.acknowledge(id, agent), onSuccess: refresh });
  const resolving = useMutation({ mutationFn: () => api.resolve(id, agent), onSuccess: refresh });
  const failed = acking.error ?? resolving.error;
  const busy = acking.isPending || resolving.isPending;

  return (
    <li className="team-ticket" data-testid={`ticket-${id}`}>
      <div className="team-ticket-line">
        <PriorityBadge priority={route.priority} />
        <span className="small">{ticket.category?.label ?? "unclassified"}</span>
        <SlaCountdown route={route} testId={`sla-${id}`} />
        <SlaCountdown route={route} target="resolution" testId={`sla-resolution-${id}`} />
      </div>
      <button type="button" className="link ticket-text" onClick={() => onSelect?.(id)} title={route.rule?.why}>
        {excerpt(ticket.subject || ticket.body, 90)}
      </button>
      <div className="team-ticket-line">
        <span className="small" data-testid={`assignee-${id}`}>
          {route.assignee ? (
            <>assigned to <strong>{route.assignee}</strong></>
          ) : (
            <span className="muted">unassigned</span>
          )}
        </span>
        <span className="actions">
          <button type="button" data-testid={`ack-${id}`} onClick={() => acking.mutate()}
                  disabled={busy || route.acknowledged_at != null}>
            Acknowledge
          </button>
          <button type="button" data-testid={`resolve-${id}`} onClick={() => resolving.mutate()} disabled={busy}>
            Resolve
          </button>
        </span>
      </div>
      {failed && <p className="error small" role="alert">{failed.message}</p>}
    </li>
  );
}
