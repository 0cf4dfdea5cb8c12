import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";

import * as api from "../api.js";
import { clock, excerpt, ms, words } from "../format.js";
import { CategoryBadge, StatusBadge } from "./Badges.jsx";
import { UrgencyBadge } from "./Urgency.jsx";

const SORTS = { urgency: "Most urgent", created: "Newest" };

/** The live queue, polled every 2 s: new tickets and state changes appear without a reload. */
export default function Queue({ selectedId, onSelect }) {
  const [sort, setSort] = useState("urgency");
  const tickets = useQuery({
    queryKey: ["tickets", sort],
    queryFn: () => api.listTickets(sort),
    refetchInterval: 2000,
    placeholderData: keepPreviousData,
  });

  return (
    <section className="card queue">
      <div className="card-head">
        <h2>Live queue</h2>
        <div className="segmented" role="group" aria-label="Sort the queue">
          {Object.entries(SORTS).map(([value, label]) => (
            <button key={value} type="button" aria-pressed={sort === value} onClick={() => setSort(value)}>
              {label}
            </button>
          ))}
        </div>
      </div>
      <QueueBody tickets={tickets} selectedId={selectedId} onSelect={onSelect} />
    </section>
  );
}

function QueueBody({ tickets, selectedId, onSelect }) {
  if (tickets.isPending) return <p className="muted">Loading tickets…</p>;
  if (!tickets.data) return <p className="error" role="alert">{tickets.error.message}</p>;
  return (
    <>
      {tickets.isError && (
        <p className="error" role="alert">{tickets.error.message} (showing the last tickets received)</p>
      )}
      {tickets.data.length === 0 ? (
        <p className="empty">No tickets yet — submit one.</p>
      ) : (
        <TicketTable tickets={tickets.data} selectedId={selectedId} onSelect={onSelect} />
      )}
    </>
  );
}

function TicketTable({ tickets, selectedId, onSelect }) {
  return (
    <table className="tickets">
      <thead>
        <tr>
          <th>Ticket</th>
          <th>Category</th>
          <th>Urgency</th>
          <th>Status</th>
          <th>Webhook</th>
          <th className="num">Latency</th>
        </tr>
      </thead>
      <tbody>
        {tickets.map((ticket) => (
          <QueueRow key={ticket.id} ticket={ticket} selected={ticket.id === selectedId} onSelect={onSelect} />
        ))}
      </tbody>
    </table>
  );
}

function QueueRow({ ticket, selected, onSelect }) {
  const open = () => onSelect(ticket.id);
  return (
    <tr className={selected ? "selected" : undefined} tabIndex={0} onClick={open}
        onKeyDown={(event) => event.key === "Enter" && open()}>
      <td>
        <div className="ticket-text">
          {ticket.subject && <strong>{excerpt(ticket.subject, 60)}</strong>}
          <span>{excerpt(ticket.body)}</span>
          <span className="muted small">{clock(ticket.created_at)}</span>
        </div>
      </td>
      <td><CategoryBadge category={ticket.category} /></td>
      <td><UrgencyBadge urgency={ticket.urgency} /></td>
      <td>
        <StatusBadge status={ticket.status} />
        {ticket.error && <div className="error small">{ticket.error}</div>}
      </td>
      <td>
        {words(ticket.webhook.status)}
        {ticket.webhook.attempts > 0 && <span className="muted"> · {attempts(ticket.webhook.attempts)}</span>}
      </td>
      <td className="num">{ms(ticket.timings_ms.total)}</td>
    </tr>
  );
}

const attempts = (n) => (n === 1 ? "1 attempt" : `${n} attempts`);
