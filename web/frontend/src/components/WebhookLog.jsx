import { useMutation, useQueryClient } from "@tanstack/react-query";

import * as api from "../api.js";
import { clock, ms, words } from "../format.js";

/** The ticket's webhook state, every delivery attempt, and a button to deliver it again. */
export default function WebhookLog({ ticket }) {
  const queryClient = useQueryClient();
  const { webhook } = ticket;
  const redelivery = useMutation({
    mutationFn: () => api.redeliverWebhook(ticket.id),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["ticket", ticket.id] }),
  });

  return (
    <>
      <p>
        <strong>{words(webhook.status)}</strong>
        <span className="muted"> · {webhook.attempts} attempt{webhook.attempts === 1 ? "" : "s"}</span>
        {webhook.event_id && <span className="muted small"> · event {webhook.event_id}</span>}
        {webhook.covered_by_incident && (
          <span className="muted small"> · covered by its incident's events ({webhook.covered_by_incident})</span>
        )}
      </p>
      {webhook.log.length > 0 && (
        <table className="log">
          <thead>
            <tr><th>#</th><th>At</th><th>Endpoint</th><th>Answer</th><th className="num">Latency</th></tr>
          </thead>
          <tbody>
            {webhook.log.map((entry) => (
              <tr key={`${entry.url}#${entry.attempt}`}>
                <td>{entry.attempt}</td>
                <td>{clock(entry.at)}</td>
                <td className="url">{entry.url}</td>
                <td className={entry.error ? "error" : undefined}>{entry.error ?? entry.status_code}</td>
                <td className="num">{ms(entry.latency_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="inline-form">
        <button type="button" onClick={() => redelivery.mutate()} disabled={redelivery.isPending}>Redeliver</button>
        {redelivery.isSuccess && (
          <span className="success" role="status">Queued for {redelivery.data.endpoints.length} endpoint(s).</span>
        )}
        {redelivery.isError && <span className="error" role="alert">{redelivery.error.message}</span>}
      </div>
    </>
  );
}
