import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import * as api from "../api.js";

/** Lets an operator set the right label; the API stores it and learns from it. */
export default function CategoryCorrection({ ticket, labels }) {
  const queryClient = useQueryClient();
  const current = ticket.category?.label ?? "";
  const [choice, setChoice] = useState(null);
  const label = choice ?? current;
  const correction = useMutation({
    mutationFn: () => api.correctCategory(ticket.id, label),
    onSuccess: (updated) => {
      queryClient.setQueryData(["ticket", ticket.id], updated);
      queryClient.invalidateQueries({ queryKey: ["tickets"] });
      setChoice(null);
    },
  });

  function submit(event) {
    event.preventDefault();
    correction.mutate();
  }

  return (
    <form className="inline-form" onSubmit={submit}>
      <label>
        Correct the category
        <select value={label} onChange={(event) => setChoice(event.target.value)}>
          {!current && <option value="">choose…</option>}
          {labels.map((name) => <option key={name} value={name}>{name}</option>)}
        </select>
      </label>
      <button type="submit" disabled={!label || label === current || correction.isPending}>
        {correction.isPending ? "Saving…" : "Save"}
      </button>
      {correction.isError && <p className="error" role="alert">{correction.error.message}</p>}
    </form>
  );
}
