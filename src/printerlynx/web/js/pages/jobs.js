// Jobs: the account's print history, filterable by printer and state.

import { useState } from "preact/hooks";
import { api } from "../api.js";
import { useFleet } from "../fleet.js";
import { PROTOCOL } from "../protocol.js";
import { Badge, formatDuration, formatTime, html, useLoad } from "../ui.js";

const PAGE = 50;
// A running job's stored message may be stale (e.g. "downloading…"); only an ended job's says why it ended.
const FINAL = new Set(["completed", "cancelled", "failed"]);

export function JobsTable({ jobs, printers, compact = false }) {
  if (!jobs.length) return html`<p class="muted">No jobs yet.</p>`;
  const printerName = (uuid) => printers.find((printer) => printer.uuid === uuid)?.name || uuid.slice(0, 8);
  return html`<div class="table-wrap"><table class="jobs">
    <thead><tr>
      <th scope="col">State</th>
      ${compact ? "" : html`<th scope="col">Printer</th>`}
      <th scope="col">File</th>
      <th scope="col">Started</th>
      ${compact ? "" : html`<th scope="col">Ended</th>`}
      <th scope="col">Duration</th>
    </tr></thead>
    <tbody>
      ${jobs.map(
        (job) => html`<tr key=${job.uuid} data-job=${job.uuid} data-state=${job.state}>
          <td><${Badge} value=${job.state} />${job.message && FINAL.has(job.state) ? html`<div class="muted small">${job.message}</div>` : ""}</td>
          ${compact ? "" : html`<td><a href=${`#/printers/${job.printer_uuid}`}>${printerName(job.printer_uuid)}</a></td>`}
          <td class="file-name">${job.file_name}</td>
          <td>${formatTime(job.started_at || job.created_at)}</td>
          ${compact ? "" : html`<td>${formatTime(job.ended_at)}</td>`}
          <td>${formatDuration(job.duration)}</td>
        </tr>`,
      )}
    </tbody>
  </table></div>`;
}

export function JobsPage({ query }) {
  const fleet = useFleet();
  const [printerUuid, setPrinterUuid] = useState(query.get("printer_uuid") || "");
  const [state, setState] = useState(query.get("state") || "");
  const [offset, setOffset] = useState(0);
  const jobs = useLoad(() => {
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (printerUuid) params.set("printer_uuid", printerUuid);
    if (state) params.set("state", state);
    return api.get(`/api/v1/jobs?${params}`);
  }, [printerUuid, state, offset]);
  const total = jobs.data?.total ?? 0;
  return html`<section>
    <h1>Jobs</h1>
    <form class="row wrap filters" onSubmit=${(event) => event.preventDefault()}>
      <label>Printer
        <select value=${printerUuid} onChange=${(event) => { setPrinterUuid(event.currentTarget.value); setOffset(0); }}>
          <option value="">All printers</option>
          ${fleet.printers.map((printer) => html`<option value=${printer.uuid}>${printer.name} (${printer.agent.name})</option>`)}
        </select>
      </label>
      <label>State
        <select value=${state} onChange=${(event) => { setState(event.currentTarget.value); setOffset(0); }}>
          <option value="">All states</option>
          ${PROTOCOL.job_states.map((value) => html`<option value=${value}>${value}</option>`)}
        </select>
      </label>
      <button type="button" onClick=${jobs.reload}>Refresh</button>
    </form>
    ${jobs.error ? html`<p class="form-error" role="alert">Cannot load jobs: ${jobs.error.message}</p>` : ""}
    ${jobs.data ? html`<${JobsTable} jobs=${jobs.data.items} printers=${fleet.printers} />` : html`<p class="muted">Loading…</p>`}
    ${total > PAGE
      ? html`<div class="row">
          <button type="button" disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>Newer</button>
          <span class="muted">${offset + 1}–${Math.min(total, offset + PAGE)} of ${total}</span>
          <button type="button" disabled=${offset + PAGE >= total} onClick=${() => setOffset(offset + PAGE)}>Older</button>
        </div>`
      : ""}
  </section>`;
}
