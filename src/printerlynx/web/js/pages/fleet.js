// Fleet: a card per printer, grouped by agent, updated live.

import { jobView, useFleet } from "../fleet.js";
import { Badge, Thumbnail, formatDuration, formatTemp, html } from "../ui.js";

export function Progress({ value, label }) {
  const percent = Math.round(value * 1000) / 10;
  return html`<div class="progress-row">
    <div class="progress" role="progressbar" aria-label=${label} aria-valuemin="0" aria-valuemax="100"
      aria-valuenow=${percent}>
      <div class="bar" style=${`width:${percent}%`}></div>
    </div>
    <span class="progress-text">${percent.toFixed(1)}%</span>
  </div>`;
}

export function Temperatures({ state }) {
  const actual = state?.temperature || {};
  const target = state?.target_temperature || {};
  const tools = Object.keys(actual)
    .filter((key) => key.startsWith("tool") && actual[key] !== null && actual[key] !== undefined)
    .sort();
  if (!tools.length && actual.bed === undefined) return html`<p class="muted">No temperatures reported</p>`;
  return html`<dl class="temps">
    ${tools.map(
      (tool) => html`<div>
        <dt>${tools.length > 1 ? `Nozzle ${tool.slice(4)}` : "Nozzle"}</dt>
        <dd data-temp=${tool}>${formatTemp(actual[tool], target[tool])}</dd>
      </div>`,
    )}
    <div><dt>Bed</dt><dd data-temp="bed">${formatTemp(actual.bed, target.bed)}</dd></div>
  </dl>`;
}

export function JobSummary({ printer }) {
  const job = jobView(printer);
  if (!job) return html`<p class="muted">No job</p>`;
  return html`<div class="job" data-job-state=${job.state}>
    <div class="job-head">
      <${Thumbnail} fileUuid=${job.fileUuid} name=${job.name} size=${56} />
      <div>
        <div class="file-name" title=${job.name}>${job.name}</div>
        <${Badge} value=${job.state} />
      </div>
    </div>
    <${Progress} value=${job.progress} label=${`Progress of ${job.name}`} />
    <div class="times">
      <span>Elapsed <strong>${formatDuration(job.elapsed)}</strong></span>
      <span>Remaining <strong>${formatDuration(job.remaining)}</strong></span>
    </div>
    ${job.message ? html`<p class="muted">${job.message}</p>` : ""}
  </div>`;
}

function PrinterCard({ printer }) {
  return html`<article class="card printer-card" data-printer=${printer.uuid} data-status=${printer.status}>
    <header class="row between">
      <h3><a href=${`#/printers/${printer.uuid}`}>${printer.name}</a></h3>
      <${Badge} value=${printer.status} />
    </header>
    <${Temperatures} state=${printer.state} />
    <${JobSummary} printer=${printer} />
  </article>`;
}

function EmptyFleet() {
  return html`<section class="card empty">
    <h2>No printers yet</h2>
    <p>Printers join the fleet through an <strong>agent</strong>: a small program that runs next to them
      (a Raspberry Pi or any computer with USB) and connects out to this server.</p>
    <ol>
      <li>Go to <a href="#/agents">Agents</a> and add one; copy the command it shows.</li>
      <li>Run that command on the computer the printers are plugged into.</li>
      <li>The agent and its printers appear here as soon as it connects.</li>
    </ol>
  </section>`;
}

export function FleetPage() {
  const fleet = useFleet();
  if (fleet.loading) return html`<p class="muted">Loading the fleet…</p>`;
  if (fleet.error) return html`<p class="form-error" role="alert">Cannot load the fleet: ${fleet.error.message}</p>`;
  return html`<section>
    <h1>Fleet</h1>
    ${fleet.agents.length === 0 ? html`<${EmptyFleet} />` : ""}
    ${fleet.agents.map(
      (agent) => html`<section class="agent-group" data-agent=${agent.uuid} key=${agent.uuid}>
        <h2>
          ${agent.name} <${Badge} value=${agent.online ? "online" : "offline"} />
        </h2>
        ${agent.printers.length === 0
          ? html`<p class="muted">
              ${agent.online ? "This agent reports no printers." : "Offline: start the agent to see its printers."}
            </p>`
          : html`<div class="cards">${agent.printers.map((printer) => html`<${PrinterCard} printer=${printer} key=${printer.uuid} />`)}</div>`}
      </section>`,
    )}
  </section>`;
}
