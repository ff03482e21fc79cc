import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";

// Django's CSRF token, from the cookie /api/csrf sets; sent back as X-CSRFToken.
const csrfToken = () => document.cookie.match(/csrftoken=([^;]+)/)?.[1] ?? "";

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body ?? {}),
  });
  return { ok: response.ok, ...(await response.json()) };
}

function App() {
  const [user, setUser] = useState(undefined);
  const [error, setError] = useState("");

  useEffect(() => {
    fetch("/api/csrf").then(() => fetch("/api/me")).then((r) => r.json())
      .then((me) => setUser(me.user));
  }, []);

  async function login(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const result = await post("/api/login", Object.fromEntries(form));
    setError(result.ok ? "" : result.error);
    if (result.ok) setUser(result.user);
  }

  if (user === undefined) return <p>Loading…</p>;
  if (user) {
    return (
      <main data-user={user}>
        <h1>Signed in as {user}</h1>
        <button onClick={async () => setUser((await post("/api/logout")).user)}>
          Sign out
        </button>
      </main>
    );
  }
  return (
    <form onSubmit={login} data-user="">
      <h1>Sign in</h1>
      <input name="username" placeholder="ada" />
      <input name="password" type="password" placeholder="lovelace" />
      <button>Sign in</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}

createRoot(document.getElementById("root")).render(<StrictMode><App /></StrictMode>);
