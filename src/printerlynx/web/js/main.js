// The dashboard's entry point: hash routing, the page frame, signing in and out.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, getToken, onToken, setToken } from "./api.js";
import { connect, disconnect } from "./live.js";
import { AccountPage } from "./pages/account.js";
import { AgentsPage } from "./pages/agents.js";
import { LoginPage, RegisterPage } from "./pages/auth.js";
import { FilesPage } from "./pages/files.js";
import { FleetPage } from "./pages/fleet.js";
import { JobsPage } from "./pages/jobs.js";
import { PrinterPage } from "./pages/printer.js";
import { Toasts, html, toast, useLive } from "./ui.js";

const NAV = [
  ["#/", "Fleet"],
  ["#/files", "Files"],
  ["#/jobs", "Jobs"],
  ["#/agents", "Agents"],
  ["#/account", "Account"],
];

function currentRoute() {
  const path = (location.hash || "#/").slice(1) || "/";
  const [pathname, query = ""] = path.split("?");
  return { parts: pathname.split("/").filter(Boolean), query: new URLSearchParams(query) };
}

function useRoute() {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}

function ConnectionState() {
  const live = useLive();
  const { state, detail } = live.connection;
  const labels = {
    online: "Live",
    connecting: "Connecting…",
    authenticating: "Connecting…",
    reconnecting: "Reconnecting",
    offline: "Offline",
  };
  return html`<span class=${`conn conn-${state}`} data-state=${state} title=${detail} role="status">
    <span class="dot" aria-hidden="true"></span>${labels[state] || state}${detail ? html`<span class="conn-detail"> — ${detail}</span>` : ""}
  </span>`;
}

async function logout() {
  disconnect(); // first: the server's 4003 for this very logout is not a revocation to report
  try {
    await api.post("/api/v1/auth/logout");
  } catch {
    // Signing out locally is what matters; the token expires anyway.
  }
  setToken(null);
  toast("info", "Signed out");
}

function Frame({ route, children }) {
  const here = `#/${route.parts[0] || ""}`;
  const active = (href) => (href === "#/" ? here === "#/" || here === "#/printers" : here === href);
  return html`<div class="frame">
    <header class="top">
      <a class="brand" href="#/">Printerlynx</a>
      <nav aria-label="Main">
        ${NAV.map(
          ([href, label]) =>
            html`<a href=${href} class=${active(href) ? "active" : ""} aria-current=${active(href) ? "page" : undefined}
              >${label}</a
            >`,
        )}
      </nav>
      <div class="top-right">
        <${ConnectionState} />
        <button type="button" class="link" onClick=${logout}>Sign out</button>
      </div>
    </header>
    <main id="main">${children}</main>
  </div>`;
}

function pageFor(route) {
  const [first, second] = route.parts;
  switch (first) {
    case undefined:
      return html`<${FleetPage} />`;
    case "printers":
      return html`<${PrinterPage} printerUuid=${second} />`;
    case "files":
      return html`<${FilesPage} />`;
    case "jobs":
      return html`<${JobsPage} key=${route.query.toString()} query=${route.query} />`;
    case "agents":
      return html`<${AgentsPage} />`;
    case "account":
      return html`<${AccountPage} />`;
    default:
      return html`<section><h1>Not found</h1><p>There is no page here. <a href="#/">Back to the fleet</a>.</p></section>`;
  }
}

function App() {
  const [token, setTokenState] = useState(getToken());
  const route = useRoute();
  useEffect(() => onToken(setTokenState), []);
  useEffect(() => {
    if (token) connect();
    else disconnect();
  }, [token]);
  if (!token) {
    const page = route.parts[0] === "register" ? html`<${RegisterPage} />` : html`<${LoginPage} />`;
    return html`<div class="auth-frame">${page}</div><${Toasts} />`;
  }
  if (route.parts[0] === "login" || route.parts[0] === "register") location.hash = "#/";
  return html`<${Frame} route=${route}>${pageFor(route)}<//><${Toasts} />`;
}

render(html`<${App} />`, document.getElementById("app"));
