import { useMutation } from "@tanstack/react-query";
import { useState } from "react";

import * as api from "../api.js";

/** Asks once for an API key (an operator's, or an agent's own); the API checks it before the dashboard opens. */
export default function SignIn({ notice, onSignedIn }) {
  const [key, setKey] = useState("");
  const signIn = useMutation({ mutationFn: api.signIn, onSuccess: onSignedIn });
  const message = signIn.error?.message ?? notice;

  function submit(event) {
    event.preventDefault();
    signIn.mutate(key.trim());
  }

  return (
    <main className="signin">
      <form className="card" onSubmit={submit}>
        <h1>SmartSupport</h1>
        <p className="muted">
          Sign in with the operator key that <code>make run</code> printed (it is also in{" "}
          <code>.smartsupport/api_key</code>), or with your own agent key.
        </p>
        <label>
          API key
          <input type="password" autoComplete="off" autoFocus required value={key}
                 onChange={(event) => setKey(event.target.value)} />
        </label>
        {message && <p className="error" role="alert">{message}</p>}
        <button type="submit" className="primary" disabled={signIn.isPending}>
          {signIn.isPending ? "Checking…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
