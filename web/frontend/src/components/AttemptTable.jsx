import { clock, ms } from "../format.js";

// Which columns a table of delivery attempts shows: a ticket's log names the endpoint, an
// endpoint's log names the ticket.
const COLUMNS = {
  attempt: { head: "#", cell: (entry) => entry.attempt },
  at: { head: "At", cell: (entry) => clock(entry.at) },
  endpoint: { head: "Endpoint", className: "url", cell: (entry) => entry.url },
  ticket: { head: "Ticket", className: "small", cell: (entry) => entry.ticket_id.slice(0, 8) },
};

/** Webhook attempts, newest or oldest first as given, with their answer and latency. */
export default function AttemptTable({ entries, columns, className = "log" }) {
  return (
    <table className={className}>
      <thead>
        <tr>
          {columns.map((name) => <th key={name}>{COLUMNS[name].head}</th>)}
          <th>Answer</th><th className="num">Latency</th>
        </tr>
      </thead>
      <tbody>
        {entries.map((entry) => (
          <tr key={`${entry.ticket_id}#${entry.url}#${entry.attempt}#${entry.at}`}>
            {columns.map((name) => <td key={name} className={COLUMNS[name].className}>{COLUMNS[name].cell(entry)}</td>)}
            <td className={entry.error ? "error" : undefined}>{entry.error ?? entry.status_code}</td>
            <td className="num">{ms(entry.latency_ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
