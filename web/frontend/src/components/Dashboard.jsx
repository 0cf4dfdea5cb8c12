import { useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useState } from "react";

import * as api from "../api.js";
import IncidentsStrip from "./IncidentsStrip.jsx";
import PresenceSwitch from "./Presence.jsx";
import Queue from "./Queue.jsx";
import SubmitForm from "./SubmitForm.jsx";
import TeamsPanel from "./TeamsPanel.jsx";
import TicketDetail from "./TicketDetail.jsx";
import WebhooksPanel from "./WebhooksPanel.jsx";

// The chart library is most of the bundle: the queue need not wait for it.
const LatencyView = lazy(() => import("./LatencyView.jsx"));

/** The signed-in page: an agent's availability switch, open incidents, the team queues, the live queue, the submit form, latency, webhooks,
 * and the selected ticket. An agent's key sees their teams' queues and tickets only, and acts as that agent. */
export default function Dashboard({ onSignOut }) {
  const [selectedId, setSelectedId] = useState(null);
  const meta = useQuery({ queryKey: ["meta"], queryFn: api.getMeta, staleTime: 60_000 });
  const me = useQuery({ queryKey: ["me"], queryFn: api.getMe, staleTime: Infinity });
  const agent = me.data?.role === "agent" ? me.data.agent : null;
  const operatorView = !me.isPending && !agent; // (should /api/me fail, the operator's page, as before)

  return (
    <div className="app">
      <header className="topbar">
        <h1>
          SmartSupport{" "}
          <span className="muted" data-testid="signed-in-as">
            {agent ? `signed in as ${agent}` : "operator dashboard"}
          </span>
        </h1>
        {agent && <PresenceSwitch agent={agent} />}
        <button type="button" onClick={onSignOut}>Sign out</button>
      </header>
      {operatorView && <IncidentsStrip />}
      <div className="teams-row">
        {!me.isPending && <TeamsPanel onSelect={setSelectedId} signedInAgent={agent} />}
      </div>
      {operatorView && (
        <main className="layout">
          <Queue selectedId={selectedId} onSelect={setSelectedId} />
          <div className="side">
            <SubmitForm />
            <Suspense fallback={<section className="card muted">Loading the latency view…</section>}>
              <LatencyView flowerUrl={flowerUrl(meta.data)} />
            </Suspense>
            <WebhooksPanel />
          </div>
        </main>
      )}
      {selectedId && (
        <TicketDetail key={selectedId} id={selectedId} labels={meta.data?.labels ?? []}
                      levels={meta.data?.urgency_levels ?? []} onClose={() => setSelectedId(null)} />
      )}
    </div>
  );
}

/** Flower's address as /api/meta gives it, or, where the API listens on every address and so names none,
 * Flower's port on the host this page was loaded from. */
function flowerUrl(meta) {
  if (meta?.flower_url) return meta.flower_url;
  return meta?.flower_port ? `http://${window.location.hostname}:${meta.flower_port}/` : null;
}
