import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import * as api from "../api.js";
import { clock } from "../format.js";

/** Open incidents (many tickets about one problem), above the queue, each closable or mergeable. */
export default function IncidentsStrip() {
  const incidents = useQuery({ queryKey: ["incidents"], queryFn: api.listIncidents, refetchInterval: 3000 });
  if (incidents.isError) return <section className="incidents card error" role="alert">{incidents.error.message}</section>;
  if (!incidents.data?.length) return null;

  return (
    <section className="incidents" aria-label="Open incidents">
      {incidents.data.map((incident) => (
        <Incident key={incident.id} incident={incident} others={incidents.data.filter((i) => i.id !== incident.id)} />
      ))}
    </section>
  );
}

function Incident({ incident, others }) {
  const queryClient = useQueryClient();
  const refresh = () => {
    queryClient.invalidateQueries({ queryKey: ["incidents"] });
    queryClient.invalidateQueries({ queryKey: ["tickets"] });
  };
  const closing = useMutation({ mutationFn: () => api.closeIncident(incident.id), onSuccess: refresh });
  const merging = useMutation({ mutationFn: (into) => api.mergeIncident(incident.id, into), onSuccess: refresh });
  const failed = closing.error ?? merging.error;

  return (
    <article className="incident" aria-label={`Incident: ${incident.title}`}>
      <p className="incident-title"><span className="badge level-critical">incident</span> {incident.title}</p>
      <p className="muted small">
        <strong className="incident-size">{incident.size} tickets</strong> · {incident.category} · since{" "}
        {clock(incident.opened_at)}
      </p>
      <div className="inline-form">
        <button type="button" onClick={() => closing.mutate()} disabled={closing.isPending}>Close</button>
        {others.length > 0 && (
          <select aria-label="Merge into" value="" onChange={(e) => e.target.value && merging.mutate(e.target.value)}>
            <option value="">Merge into…</option>
            {others.map((other) => <option key={other.id} value={other.id}>{other.title}</option>)}
          </select>
        )}
      </div>
      {failed && <p className="error" role="alert">{failed.message}</p>}
    </article>
  );
}
