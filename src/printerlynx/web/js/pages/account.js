// Account settings: email, password, deleting the account.

import { api, setToken } from "../api.js";
import { confirmAction, html, toast, toastError, useLoad } from "../ui.js";

export function AccountPage() {
  const me = useLoad(() => api.get("/api/v1/accounts/me"));
  const saveEmail = async (event) => {
    event.preventDefault();
    const email = new FormData(event.currentTarget).get("email").trim();
    try {
      await api.put("/api/v1/accounts/me", { email });
      toast("ok", "Email saved");
      me.reload();
    } catch (error) {
      toastError("Save email", error);
    }
  };
  const changePassword = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    try {
      const reply = await api.put("/api/v1/accounts/me/password", {
        old_password: data.get("old_password"),
        password: data.get("password"),
        password_confirmation: data.get("password_confirmation"),
      });
      form.reset();
      // Every earlier token is revoked (other tabs and devices sign out); this tab keeps going.
      setToken(reply.token);
      toast("ok", "Password changed; other sessions were signed out");
    } catch (error) {
      toastError("Change password", error);
    }
  };
  const deleteAccount = async () => {
    const ok = await confirmAction(
      "Delete your account?",
      "Your agents, printers, files and job history are deleted for good, and every agent is disconnected.",
      "Delete account",
    );
    if (!ok) return;
    try {
      await api.del("/api/v1/accounts/me");
      setToken(null);
      toast("info", "Your account was deleted");
    } catch (error) {
      toastError("Delete account", error);
    }
  };
  if (me.error) return html`<p class="form-error" role="alert">Cannot load the account: ${me.error.message}</p>`;
  if (!me.data) return html`<p class="muted">Loading…</p>`;
  return html`<section class="account">
    <h1>Account</h1>
    <p>Signed in as <strong>${me.data.username}</strong>.</p>
    <form class="card" onSubmit=${saveEmail}>
      <h2>Email</h2>
      <label>Email <input name="email" type="email" value=${me.data.email} required autocomplete="email" /></label>
      <button type="submit" class="primary">Save email</button>
    </form>
    <form class="card" onSubmit=${changePassword}>
      <h2>Password</h2>
      <label>Current password <input name="old_password" type="password" required autocomplete="current-password" /></label>
      <label>New password <input name="password" type="password" required autocomplete="new-password" /></label>
      <label>Confirm new password <input name="password_confirmation" type="password" required autocomplete="new-password" /></label>
      <button type="submit" class="primary">Change password</button>
    </form>
    <section class="card danger-zone">
      <h2>Delete account</h2>
      <p>Removes everything this account owns.</p>
      <button type="button" class="danger" onClick=${deleteAccount}>Delete account</button>
    </section>
  </section>`;
}
