import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import * as api from "../api.js";

const STATUSES = { available: "Available", away: "Away", calendar: "Follows calendar" };

/** A signed-in agent's own presence, from their team cards (GET /api/teams), and the switch that sets it: work
 * waiting in a team that pushes is handed to them as soon as they are available; going away hands theirs on. */
export default function PresenceSwitch({ agent }) {
  const queryClient = useQueryClient();
  const teams = useQuery({ queryKey: ["teams"], queryFn: api.getTeams, refetchInterval: 3000 });
  const member = teams.data?.teams.flatMap((team) => team.members ?? []).find((m) => m.name === agent);
  const setting = useMutation({
    mutationFn: (status) => api.setPresence(agent, status),
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: ["teams"] });
      queryClient.invalidateQueries({ queryKey: ["tickets"] });
    },
  });
  const status = setting.isPending ? setting.variables : member?.status;

  return (
    <div className="presence" role="group" aria-label="Your availability" data-testid="presence">
      <span className="small">
        You are{" "}
        <strong data-testid="presence-status" data-status={status ?? ""}>
          {status ? STATUSES[status].toLowerCase() : "…"}
        </strong>
        {member && !setting.isPending && (
          <span className="muted"> · {member.there ? "work comes to you" : "no work is pushed to you now"}</span>
        )}
      </span>
      <span className="segmented">
        {Object.entries(STATUSES).map(([value, label]) => (
          <button key={value} type="button" aria-pressed={status === value} data-testid={`presence-${value}`}
                  disabled={setting.isPending} onClick={() => setting.mutate(value)}>
            {label}
          </button>
        ))}
      </span>
      {setting.isError && <span className="error small" role="alert">{setting.error.message}</span>}
    </div>
  );
}
