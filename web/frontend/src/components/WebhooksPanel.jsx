import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import * as api from "../api.js";
import { clock } from "../format.js";
import AttemptTable from "./AttemptTable.jsx";

const RECENT = 5;

/** Every configured endpoint with its latest attempts, and the events whose attempts ran out. */
export default function WebhooksPanel() {
  const webhooks = useQuery({ queryKey: ["webhooks"], queryFn: api.getWebhooks, refetchInterval: 3000 });
  const dead = useQuery({ queryKey: ["dead-letters"], queryFn: api.getDeadLetters, refetchInterval: 3000 });

  return (
    <section className="card webhooks" aria-label="Webhooks">
      <div className="card-head">
        <h2>Webhooks</h2>
      </div>
      {webhooks.data ? (
        webhooks.data.endpoints.length === 0 ? (
          <p className="empty">No endpoint is configured (SMARTSUPPORT_WEBHOOK_URLS or the routing file's destinations).</p>
        ) : (
          webhooks.data.endpoints.map((endpoint) => <Endpoint key={endpoint.url} endpoint={endpoint} />)
        )
      ) : (
        <p className={webhooks.isError ? "error" : "muted"}>{webhooks.error?.message ?? "Loading endpoints…"}</p>
      )}
      <DeadLetters query={dead} />
    </section>
  );
}

function Endpoint({ endpoint }) {
  const queryClient = useQueryClient();
  const enabling = useMutation({
    mutationFn: () => api.enableEndpoint(endpoint.url),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["webhooks"] }),
  });
  const recent = endpoint.recent.slice(0, RECENT);

  return (
    <div className="endpoint">
      <p>
        {endpoint.name && <strong>{endpoint.name} </strong>}<span className="url">{endpoint.url}</span>{" "}
        {endpoint.disabled ? (
          <>
            <span className="badge status-failed">disabled</span>
            {endpoint.disabled_reason && <span className="muted small"> {endpoint.disabled_reason}</span>}{" "}
            <button type="button" onClick={() => enabling.mutate()} disabled={enabling.isPending}>Enable</button>
            {enabling.isError && <span className="error" role="alert"> {enabling.error.message}</span>}
          </>
        ) : (
          <span className="badge status-done">enabled</span>
        )}
      </p>
      {recent.length === 0 ? (
        <p className="muted small">No delivery yet.</p>
      ) : (
        <AttemptTable entries={recent} columns={["at", "ticket", "attempt"]} className="log endpoint-log" />
      )}
    </div>
  );
}

function DeadLetters({ query }) {
  const queryClient = useQueryClient();
  const replay = useMutation({
    mutationFn: (ticketId) => api.replayDeadLetters(ticketId),
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: ["dead-letters"] });
      queryClient.invalidateQueries({ queryKey: ["webhooks"] });
    },
  });
  if (!query.data) return query.isError ? <p className="error">{query.error.message}</p> : null;
  const events = query.data;

  return (
    <div className="dead-letters">
      <h3>Dead letters <span className="muted small">({events.length})</span></h3>
      {events.length === 0 ? (
        <p className="muted small">No event has run out of attempts.</p>
      ) : (
        <>
          <ul className="plain">
            {events.map((event) => (
              <li key={`${event.ticket_id} ${event.url}`}>
                <span className="small">{event.ticket_id.slice(0, 8)}</span>{" "}
                <span className="url">{event.url}</span>{" "}
                <span className="muted small">{clock(event.at)} · {event.error ?? "gave up"}</span>{" "}
                <button type="button" onClick={() => replay.mutate(event.ticket_id)} disabled={replay.isPending}>
                  Replay
                </button>
              </li>
            ))}
          </ul>
          <button type="button" onClick={() => replay.mutate(null)} disabled={replay.isPending}>Replay all</button>
        </>
      )}
      {replay.isSuccess && <span className="success" role="status"> Replayed {replay.data.replayed} event(s).</span>}
      {replay.isError && <span className="error" role="alert"> {replay.error.message}</span>}
    </div>
  );
}
