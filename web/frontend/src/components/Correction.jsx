import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

/** Lets an operator set the right answer (a category, an urgency level); the API stores it and learns from it. */
export default function Correction({ ticket, what, current, choices, save }) {
  const queryClient = useQueryClient();
  const [choice, setChoice] = useState(null);
  const value = choice ?? current ?? "";
  const correction = useMutation({
    mutationFn: () => save(ticket.id, value),
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
        Correct the {what}
        <select value={value} onChange={(event) => setChoice(event.target.value)}>
          {!current && <option value="">choose…</option>}
          {choices.map((name) => <option key={name} value={name}>{name}</option>)}
        </select>
      </label>
      <button type="submit" aria-label={`Save the ${what}`}
        disabled={!value || value === current || correction.isPending}>
        {correction.isPending ? "Saving…" : "Save"}
      </button>
      {correction.isError && <p className="error" role="alert">{correction.error.message}</p>}
    </form>
  );
}
