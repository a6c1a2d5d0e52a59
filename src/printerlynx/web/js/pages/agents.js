// Agents: add one (its token is shown once), rename, rotate the token, delete; live online state.

import { useState } from "preact/hooks";
import { api } from "../api.js";
import { useFleet } from "../fleet.js";
import { Badge, confirmAction, formatTime, html, toast, toastError } from "../ui.js";

function commandLine(token) {
  return `printerlynx agent --server ${location.origin} --token ${token} --printer NAME=serial:/dev/ttyUSB0@115200`;
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("ok", "Copied to the clipboard");
  } catch {
    toast("error", "Copy failed: select the text and copy it by hand");
  }
}

function TokenPanel({ agent, token, onClose }) {
  const line = commandLine(token);
  return html`<section class="card token-panel" role="region" aria-labelledby="token-title">
    <h2 id="token-title">Token for ${agent.name}</h2>
    <p><strong>Shown only this once.</strong> Copy it now; if it is lost, rotate the token to get a new one.</p>
    <div class="row">
      <code class="mono grow select-all" data-testid="agent-token">${token}</code>
      <button type="button" onClick=${() => copy(token)}>Copy token</button>
    </div>
    <p>Run the agent next to the printers (replace NAME and the serial port):</p>
    <div class="row">
      <code class="mono grow select-all" data-testid="agent-command">${line}</code>
      <button type="button" onClick=${() => copy(line)}>Copy command</button>
    </div>
    <div class="row end"><button type="button" onClick=${onClose}>Done</button></div>
  </section>`;
}

function AgentRow({ agent, onChanged, onToken }) {
  const [editing, setEditing] = useState(false);
  const rename = async (event) => {
    event.preventDefault();
    const name = new FormData(event.currentTarget).get("name").trim();
    try {
      await api.put(`/api/v1/agents/${agent.uuid}`, { name });
      toast("ok", `Renamed to ${name}`);
      setEditing(false);
      onChanged();
    } catch (error) {
      toastError("Rename", error);
    }
  };
  const rotate = async () => {
    const ok = await confirmAction(
      "Rotate the token?",
      `The current token of ${agent.name} stops working at once and the agent disconnects.`,
      "Rotate token",
    );
    if (!ok) return;
    try {
      const reply = await api.post(`/api/v1/agents/${agent.uuid}/token`);
      onToken(reply);
      onChanged();
    } catch (error) {
      toastError("Rotate token", error);
    }
  };
  const remove = async () => {
    if (!(await confirmAction("Delete this agent?", `${agent.name} and its printers leave the fleet.`, "Delete agent"))) return;
    try {
      await api.del(`/api/v1/agents/${agent.uuid}`);
      toast("ok", `Deleted ${agent.name}`);
      onChanged();
    } catch (error) {
      toastError("Delete agent", error);
    }
  };
  const seen = [
    agent.online ? "Connected now" : `Last seen ${agent.last_seen_at ? formatTime(agent.last_seen_at) : "never"}`,
    `${agent.printers.length} printer${agent.printers.length === 1 ? "" : "s"}`,
    agent.description,
  ]
    .filter(Boolean)
    .join(" · ");
  return html`<li class="card agent" data-agent=${agent.uuid}>
    <div class="row between wrap">
      ${editing
        ? html`<form class="row" onSubmit=${rename}>
            <label class="sr-only" for=${`name-${agent.uuid}`}>New name</label>
            <input id=${`name-${agent.uuid}`} name="name" value=${agent.name} required maxlength="100" />
            <button type="submit" class="primary">Save</button>
            <button type="button" onClick=${() => setEditing(false)}>Cancel</button>
          </form>`
        : html`<h2>${agent.name} <${Badge} value=${agent.online ? "online" : "offline"} /></h2>`}
      <div class="row wrap">
        ${editing ? "" : html`<button type="button" onClick=${() => setEditing(true)}>Rename</button>`}
        <button type="button" onClick=${rotate}>Rotate token</button>
        <button type="button" class="danger" onClick=${remove}>Delete</button>
      </div>
    </div>
    <p class="muted small" data-testid="agent-seen">${seen}</p>
  </li>`;
}

export function AgentsPage() {
  const fleet = useFleet();
  const [shown, setShown] = useState(null);
  const [busy, setBusy] = useState(false);
  const add = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    setBusy(true);
    try {
      const reply = await api.post("/api/v1/agents", {
        name: data.get("name").trim(),
        description: data.get("description").trim(),
      });
      form.reset();
      setShown(reply);
      fleet.reload();
    } catch (error) {
      toastError("Add agent", error);
    } finally {
      setBusy(false);
    }
  };
  return html`<section>
    <h1>Agents</h1>
    ${shown ? html`<${TokenPanel} agent=${shown} token=${shown.token} onClose=${() => setShown(null)} />` : ""}
    <form class="card row wrap add-agent" onSubmit=${add}>
      <label class="grow">Name <input name="name" required maxlength="100" placeholder="Workshop Pi" /></label>
      <label class="grow">Description <input name="description" maxlength="1000" placeholder="optional" /></label>
      <button type="submit" class="primary" disabled=${busy}>Add agent</button>
    </form>
    ${fleet.error ? html`<p class="form-error" role="alert">Cannot load agents: ${fleet.error.message}</p>` : ""}
    ${!fleet.loading && fleet.agents.length === 0 ? html`<p class="muted">No agents yet. Add one to connect printers.</p>` : ""}
    <ul class="agents">
      ${fleet.agents.map(
        (agent) => html`<${AgentRow} key=${agent.uuid} agent=${agent} onChanged=${fleet.reload} onToken=${setShown} />`,
      )}
    </ul>
  </section>`;
}
