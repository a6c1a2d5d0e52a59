// Files: drag-and-drop upload with progress, the list with thumbnails and metadata, print on a printer.

import { useState } from "preact/hooks";
import { api, download, upload } from "../api.js";
import { useFleet } from "../fleet.js";
import { command } from "../live.js";
import { T } from "../protocol.js";
import {
  Thumbnail,
  confirmAction,
  formatBytes,
  formatDuration,
  formatTime,
  html,
  toast,
  toastError,
  toastReply,
  useLoad,
} from "../ui.js";
import { Progress } from "./fleet.js";

const ACCEPT = ".gcode,.gco,.g,.bgcode";

function describe(metadata) {
  const parts = [];
  if (metadata.estimated_time) parts.push(["Time", formatDuration(metadata.estimated_time)]);
  if (metadata.filament_type || metadata.filament_length_mm || metadata.filament_weight_g) {
    const amount = metadata.filament_weight_g
      ? `${metadata.filament_weight_g} g`
      : metadata.filament_length_mm
        ? `${(metadata.filament_length_mm / 1000).toFixed(2)} m`
        : "";
    parts.push(["Filament", [metadata.filament_type, amount].filter(Boolean).join(" ")]);
  }
  if (metadata.layer_height) parts.push(["Layer", `${metadata.layer_height} mm`]);
  if (metadata.slicer) parts.push(["Slicer", [metadata.slicer, metadata.slicer_version].filter(Boolean).join(" ")]);
  return parts;
}

function Uploads({ onUploaded }) {
  const [uploads, setUploads] = useState([]);
  const [over, setOver] = useState(false);
  const update = (id, change) => setUploads((list) => list.map((item) => (item.id === id ? { ...item, ...change } : item)));
  const start = (files) => {
    for (const file of files) {
      const id = `${Date.now()}-${Math.random()}`;
      setUploads((list) => [...list, { id, name: file.name, progress: 0, error: null, done: false }]);
      upload("/api/v1/printfiles", file, (progress) => update(id, { progress })).then(
        () => {
          update(id, { done: true, progress: 1 });
          toast("ok", `Uploaded ${file.name}`);
          onUploaded();
          setTimeout(() => setUploads((list) => list.filter((item) => item.id !== id)), 3000);
        },
        (error) => {
          update(id, { error: error.message });
          toast("error", error.message);
        },
      );
    }
  };
  const onDrop = (event) => {
    event.preventDefault();
    setOver(false);
    start([...(event.dataTransfer?.files || [])]);
  };
  return html`<section class="card">
    <div class=${`dropzone ${over ? "over" : ""}`} onDragOver=${(event) => { event.preventDefault(); setOver(true); }}
      onDragLeave=${() => setOver(false)} onDrop=${onDrop}>
      <p>Drop G-code files here, or</p>
      <label class="button primary">Choose files
        <input type="file" class="sr-only" accept=${ACCEPT} multiple data-testid="file-input"
          onChange=${(event) => { start([...event.currentTarget.files]); event.currentTarget.value = ""; }} />
      </label>
      <p class="muted small">.gcode, .gco, .g or .bgcode</p>
    </div>
    ${uploads.map(
      (item) => html`<div class="upload" key=${item.id} data-upload=${item.name}>
        <div class="row between"><span class="file-name">${item.name}</span>
          ${item.error
            ? html`<button type="button" class="link" onClick=${() => setUploads((list) => list.filter((x) => x.id !== item.id))}>Dismiss</button>`
            : ""}
        </div>
        ${item.error ? html`<p class="form-error" role="alert">${item.error}</p>` : html`<${Progress} value=${item.progress} label=${`Upload of ${item.name}`} />`}
      </div>`,
    )}
  </section>`;
}

function PrintOn({ file, printers }) {
  const available = printers.filter((printer) => printer.status === "available");
  const [printerUuid, setPrinterUuid] = useState("");
  const [busy, setBusy] = useState(false);
  const chosen = available.find((printer) => printer.uuid === printerUuid) || available[0];
  const submit = async (event) => {
    event.preventDefault();
    if (!chosen) return;
    setBusy(true);
    const reply = await command(T.print_job, {
      type: "START",
      agent_uuid: chosen.agent_uuid,
      printer_uuid: chosen.uuid,
      print_file_uuid: file.uuid,
    });
    setBusy(false);
    toastReply(`Print ${file.name} on ${chosen.name}`, reply);
  };
  if (!available.length) return html`<span class="muted small">No printer available</span>`;
  return html`<form class="row print-on" onSubmit=${submit}>
    <label class="sr-only" for=${`on-${file.uuid}`}>Printer for ${file.name}</label>
    <select id=${`on-${file.uuid}`} value=${chosen?.uuid} onChange=${(event) => setPrinterUuid(event.currentTarget.value)}>
      ${available.map((printer) => html`<option value=${printer.uuid}>${printer.name} (${printer.agent.name})</option>`)}
    </select>
    <button type="submit" class="primary" disabled=${busy}>Print on…</button>
  </form>`;
}

function FileRow({ file, printers, onDeleted }) {
  const remove = async () => {
    if (!(await confirmAction("Delete this file?", `${file.name} is removed for good.`, "Delete"))) return;
    try {
      await api.del(`/api/v1/printfiles/${file.uuid}`);
      toast("ok", `Deleted ${file.name}`);
      onDeleted();
    } catch (error) {
      toastError(`Delete ${file.name}`, error);
    }
  };
  const save = () => download(`/api/v1/printfiles/${file.uuid}/download`, file.name).catch((error) => toastError("Download", error));
  return html`<li class="card file" data-file=${file.uuid}>
    <${Thumbnail} fileUuid=${file.has_thumbnail === false ? null : file.uuid} name=${file.name} size=${72} />
    <div class="file-body">
      <div class="file-name" title=${file.name}>${file.name}</div>
      <div class="muted small">${formatBytes(file.size)} · ${file.file_type} · uploaded ${formatTime(file.created_at)}</div>
      <dl class="meta">
        ${describe(file.metadata || {}).map(([key, value]) => html`<div><dt>${key}</dt><dd>${value}</dd></div>`)}
      </dl>
      <div class="row wrap">
        <${PrintOn} file=${file} printers=${printers} />
        <button type="button" onClick=${save}>Download</button>
        <button type="button" class="danger" onClick=${remove}>Delete</button>
      </div>
    </div>
  </li>`;
}

export function FilesPage() {
  const fleet = useFleet();
  const files = useLoad(() => api.get("/api/v1/printfiles?limit=200"));
  const items = files.data?.items || [];
  return html`<section>
    <h1>Files</h1>
    <${Uploads} onUploaded=${files.reload} />
    ${files.error ? html`<p class="form-error" role="alert">Cannot list files: ${files.error.message}</p>` : ""}
    ${files.data && !items.length ? html`<p class="muted">No files yet: upload one above.</p>` : ""}
    <ul class="files">
      ${items.map((file) => html`<${FileRow} key=${file.uuid} file=${file} printers=${fleet.printers} onDeleted=${files.reload} />`)}
    </ul>
    ${files.data && files.data.total > items.length ? html`<p class="muted">Showing ${items.length} of ${files.data.total}.</p>` : ""}
  </section>`;
}
