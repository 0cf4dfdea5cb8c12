import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import * as api from "./api.js";
import Dashboard from "./components/Dashboard.jsx";
import HealthBanner from "./components/HealthBanner.jsx";
import SignIn from "./components/SignIn.jsx";

/** Sign-in until the API accepts a key, then the dashboard; a key refused later returns here. */
export default function App() {
  const queryClient = useQueryClient();
  const [signedIn, setSignedIn] = useState(() => Boolean(api.storedKey()));
  const [notice, setNotice] = useState("");

  useEffect(
    () =>
      api.onKeyRejected(() => {
        queryClient.clear();
        setNotice("Key rejected: the API no longer accepts this key, sign in again.");
        setSignedIn(false);
      }),
    [queryClient],
  );

  function signOut() {
    api.signOut();
    queryClient.clear();
    setNotice("");
    setSignedIn(false);
  }

  return (
    <>
      <HealthBanner />
      {signedIn ? (
        <Dashboard onSignOut={signOut} />
      ) : (
        <SignIn notice={notice} onSignedIn={() => setSignedIn(true)} />
      )}
    </>
  );
}
