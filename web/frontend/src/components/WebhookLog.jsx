import { useMutation, useQueryClient } from "@tanstack/react-query";

import * as api from "../api.js";
import { words } from "../format.js";
import AttemptTable from "./AttemptTable.jsx";

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
      {webhook.log.length > 0 && <AttemptTable entries={webhook.log} columns={["attempt", "at", "endpoint"]} />}
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
