import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import * as api from "../api.js";

const FIELD_NAMES = { body: "Message", subject: "Subject" };

/** A new ticket; the API validates it, and its errors are shown next to what they are about. */
export default function SubmitForm() {
  const queryClient = useQueryClient();
  const [subject, setSubject] = useState("");
  const [body, setBody] = useState("");
  const submission = useMutation({
    mutationFn: api.submitTicket,
    onSuccess: (_, sent) => {
      // Clear what was sent, not what the operator typed since (the next ticket, perhaps).
      setSubject((current) => (current === (sent.subject ?? "") ? "" : current));
      setBody((current) => (current === sent.body ? "" : current));
      queryClient.invalidateQueries({ queryKey: ["tickets"] });
    },
  });
  const details = submission.error?.details ?? [];
  const invalid = (field) => details.some((detail) => detail.field === field);

  function submit(event) {
    event.preventDefault();
    submission.mutate(subject.trim() ? { body, subject } : { body });
  }

  return (
    <section className="card">
      <h2>Submit a ticket</h2>
      <form className="stack" onSubmit={submit}>
        <label>
          Subject <span className="muted">(optional)</span>
          <input value={subject} aria-invalid={invalid("subject")} onChange={(event) => setSubject(event.target.value)} />
        </label>
        <label>
          Message
          <textarea rows={5} value={body} aria-invalid={invalid("body")} onChange={(event) => setBody(event.target.value)}
                    placeholder="What the customer wrote" />
        </label>
        <button type="submit" className="primary" disabled={submission.isPending}>
          {submission.isPending ? "Submitting…" : "Submit ticket"}
        </button>
        {submission.isError && <SubmitError error={submission.error} />}
        {submission.isSuccess && (
          <p className="success" role="status">Queued as ticket {submission.data.id}. It appears in the queue.</p>
        )}
      </form>
    </section>
  );
}

function SubmitError({ error }) {
  if (error.details.length === 0) return <p className="error" role="alert">{error.message}</p>;
  return (
    <div className="error" role="alert">
      The API did not accept the ticket:
      <ul>
        {error.details.map((detail) => (
          <li key={detail.field}>{FIELD_NAMES[detail.field] ?? detail.field}: {detail.message}</li>
        ))}
      </ul>
    </div>
  );
}
