import { useQuery } from "@tanstack/react-query";

import * as api from "../api.js";

/** A banner for what stops tickets from moving: no API, no Redis, no worker, or a part that is missing. */
export default function HealthBanner() {
  const health = useQuery({ queryKey: ["health"], queryFn: api.getHealth, refetchInterval: 5000 });
  const problem = describe(health);
  const dead = health.data?.helpdesk?.dead_count ?? 0;
  return (
    <>
      {problem && <div className="banner" role="alert">{problem}</div>}
      {dead > 0 && (
        <div className="banner" role="status" data-testid="helpdesk-dead-letters">
          {dead} write-back{dead === 1 ? "" : "s"} to the helpdesk gave up after every retry: the tickets are
          triaged here, not in the helpdesk (GET /api/health lists them, with the helpdesk's answer)
        </div>
      )}
    </>
  );
}

function describe({ data, error }) {
  if (error) return error.message;
  if (!data) return null;
  if (data.redis !== "ok") return "Redis is unavailable: tickets can be neither submitted nor read";
  if (data.workers === 0) return "No worker is running: tickets will wait in the queue";
  if (data.missing?.length) return `Not running: ${data.missing.join("; ")}`;
  return null;
}
