// Sign in and create an account.

import { useState } from "preact/hooks";
import { api, setToken } from "../api.js";
import { html, useLive } from "../ui.js";

function ErrorLine({ error }) {
  if (!error) return null;
  return html`<p class="form-error" role="alert">${error}</p>`;
}

function useSubmit(action) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      await action(new FormData(event.currentTarget));
    } catch (exc) {
      setError(exc.message || String(exc));
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

export function LoginPage() {
  const { busy, error, submit } = useSubmit(async (form) => {
    const reply = await api.post(
      "/api/v1/auth/login",
      { username: form.get("username"), password: form.get("password") },
      { keepTokenOn401: true },
    );
    setToken(reply.token);
    location.hash = "#/";
  });
  const revoked = useLive().connection.detail;
  return html`<section class="card auth">
    <h1>Sign in to Printerlynx</h1>
    ${revoked ? html`<p class="notice">${revoked}</p>` : ""}
    <form onSubmit=${submit}>
      <label>Username <input name="username" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <${ErrorLine} error=${error} />
      <button class="primary" type="submit" disabled=${busy}>Sign in</button>
    </form>
    <p>No account yet? <a href="#/register">Create one</a>.</p>
  </section>`;
}

export function RegisterPage() {
  const { busy, error, submit } = useSubmit(async (form) => {
    const reply = await api.post("/api/v1/auth/register", {
      username: form.get("username"),
      email: form.get("email"),
      password: form.get("password"),
      password_confirmation: form.get("password_confirmation"),
    });
    setToken(reply.token);
    location.hash = "#/";
  });
  return html`<section class="card auth">
    <h1>Create an account</h1>
    <form onSubmit=${submit}>
      <label
        >Username
        <input name="username" autocomplete="username" required minlength="3" maxlength="64"
      /></label>
      <label>Email <input name="email" type="email" autocomplete="email" required /></label>
      <label>Password <input name="password" type="password" autocomplete="new-password" required /></label>
      <label
        >Confirm password <input name="password_confirmation" type="password" autocomplete="new-password" required
      /></label>
      <${ErrorLine} error=${error} />
      <button class="primary" type="submit" disabled=${busy}>Create account</button>
    </form>
    <p>Already have one? <a href="#/login">Sign in</a>.</p>
  </section>`;
}
