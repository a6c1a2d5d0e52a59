// Printer: live temperature chart, job controls, a G-code terminal and the printer's recent jobs.

import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { api } from "../api.js";
import { jobView, useFleet } from "../fleet.js";
import { command, store, terminalLine } from "../live.js";
import { PROTOCOL, T } from "../protocol.js";
import { Badge, confirmAction, html, toastError, toastReply, useLive, useLoad } from "../ui.js";
import { JobSummary, Temperatures } from "./fleet.js";
import { JobsTable } from "./jobs.js";

const SERIES = [
  ["tool0", "Nozzle", "#e4572e", false],
  ["tool0_target", "Nozzle target", "#e4572e", true],
  ["bed", "Bed", "#2e86de", false],
  ["bed_target", "Bed target", "#2e86de", true],
];

function chartData(samples) {
  return [samples.map((s) => s.t), ...SERIES.map(([key]) => samples.map((s) => s[key]))];
}

function TemperatureChart({ printerUuid }) {
  const live = useLive();
  const host = useRef(null);
  const chart = useRef(null);
  const samples = live.history.get(printerUuid) || [];
  useEffect(() => {
    const element = host.current;
    const ink = getComputedStyle(element).color;
    const grid = "rgba(128,128,128,0.25)";
    const axis = { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid } };
    const options = {
      width: Math.max(280, element.clientWidth),
      height: 240,
      scales: { x: { time: true } },
      legend: { live: false },
      cursor: { points: { show: false } },
      axes: [axis, { ...axis, label: "°C" }],
      series: [
        {},
        ...SERIES.map(([, label, color, dashed]) => ({
          label,
          stroke: color,
          width: 2,
          points: { show: false },
          dash: dashed ? [6, 4] : undefined,
          spanGaps: true,
        })),
      ],
    };
    chart.current = new uPlot(options, chartData(store.history.get(printerUuid) || []), element);
    const resize = new ResizeObserver(() => chart.current.setSize({ width: Math.max(280, element.clientWidth), height: 240 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.current.destroy();
      chart.current = null;
    };
  }, [printerUuid]);
  useEffect(() => {
    chart.current?.setData(chartData(samples));
  }, [live.version]);
  return html`<div class="chart" ref=${host} role="img" aria-label="Nozzle and bed temperatures over the last 10 minutes"></div>`;
}

function JobControls({ printer }) {
  const [fileUuid, setFileUuid] = useState("");
  const [busy, setBusy] = useState(false);
  const files = useLoad(() => api.get("/api/v1/printfiles?limit=200"));
  const job = jobView(printer);
  const target = { agent_uuid: printer.agent_uuid, printer_uuid: printer.uuid };
  const send = async (type, extra = {}) => {
    setBusy(true);
    const reply = await command(T.print_job, { type, ...target, ...extra });
    setBusy(false);
    return toastReply(`${type} on ${printer.name}`, reply);
  };
  const cancel = async () => {
    if (await confirmAction("Cancel this print?", `The job on ${printer.name} stops and cannot be resumed.`, "Cancel print")) {
      await send("CANCEL");
    }
  };
  const emergencyStop = async () => {
    const ok = await confirmAction(
      "Emergency stop?",
      `${PROTOCOL.emergency_stop} halts ${printer.name} at once: heaters and motors off. It must be reset before printing again.`,
      "Emergency stop",
    );
    if (!ok) return;
    setBusy(true);
    const reply = await command(T.printer_command, { ...target, command: PROTOCOL.emergency_stop });
    setBusy(false);
    terminalLine(printer.uuid, reply.status === "OK" ? "ok" : "error", `${PROTOCOL.emergency_stop}: ${reply.status} ${reply.message || ""}`);
    toastReply("Emergency stop", reply);
  };
  const available = printer.status === "available";
  const state = job?.state;
  const items = files.data?.items || [];
  return html`<section class="card controls" aria-labelledby="controls-title">
    <h2 id="controls-title">Job</h2>
    <${JobSummary} printer=${printer} />
    <div class="row wrap">
      ${state === "printing" ? html`<button type="button" disabled=${busy} onClick=${() => send("PAUSE")}>Pause</button>` : ""}
      ${state === "paused" ? html`<button type="button" class="primary" disabled=${busy} onClick=${() => send("RESUME")}>Resume</button>` : ""}
      ${state === "printing" || state === "paused"
        ? html`<button type="button" class="danger" disabled=${busy} onClick=${cancel}>Cancel</button>`
        : ""}
    </div>
    <form class="row wrap" onSubmit=${(event) => {
      event.preventDefault();
      if (fileUuid) send("START", { print_file_uuid: fileUuid });
    }}>
      <label class="grow">Print a file
        <select name="file" value=${fileUuid} onChange=${(event) => setFileUuid(event.currentTarget.value)} disabled=${!available}>
          <option value="">${items.length ? "Choose a file…" : "No files uploaded yet"}</option>
          ${items.map((file) => html`<option value=${file.uuid}>${file.name}</option>`)}
        </select>
      </label>
      <button type="submit" class="primary" disabled=${busy || !available || !fileUuid}>Start print</button>
    </form>
    ${!available && printer.status !== "busy" ? html`<p class="muted">The printer is ${printer.status}; it cannot start a job now.</p>` : ""}
    ${files.error ? html`<p class="form-error">Cannot list files: ${files.error.message}</p>` : ""}
    <div class="row end">
      <button type="button" class="danger estop" disabled=${printer.status === "unavailable"} onClick=${emergencyStop}>
        Emergency stop
      </button>
    </div>
  </section>`;
}

function Terminal({ printer }) {
  const live = useLive();
  const [text, setText] = useState("");
  const log = useRef(null);
  const lines = live.terminal.get(printer.uuid) || [];
  useEffect(() => {
    if (log.current) log.current.scrollTop = log.current.scrollHeight;
  }, [lines.length]);
  const submit = async (event) => {
    event.preventDefault();
    const line = text.trim();
    if (!line) return;
    setText("");
    terminalLine(printer.uuid, "sent", `> ${line}`);
    const reply = await command(T.printer_command, { agent_uuid: printer.agent_uuid, printer_uuid: printer.uuid, command: line });
    if (reply.status === "OK") terminalLine(printer.uuid, "ok", `${line}: OK`);
    else {
      terminalLine(printer.uuid, "error", `${line}: ERROR ${reply.message || ""}`);
      toastReply(line, reply);
    }
  };
  return html`<section class="card terminal" aria-labelledby="terminal-title">
    <h2 id="terminal-title">Terminal</h2>
    <div class="terminal-log" ref=${log} role="log" aria-live="polite" tabindex="0">
      ${lines.length === 0 ? html`<span class="muted">Send a G-code command, e.g. M105 for temperatures.</span>` : ""}
      ${lines.map((line) => html`<div class=${`line line-${line.kind}`}>${line.text}</div>`)}
    </div>
    <form class="row" onSubmit=${submit}>
      <label class="sr-only" for="gcode">G-code command</label>
      <input id="gcode" class="grow mono" value=${text} maxlength=${PROTOCOL.max_gcode_chars} placeholder="G28"
        autocomplete="off" spellcheck="false" onInput=${(event) => setText(event.currentTarget.value)} />
      <button type="submit" disabled=${printer.status === "unavailable"}>Send</button>
    </form>
  </section>`;
}

function RecentJobs({ printer }) {
  const job = jobView(printer);
  const jobs = useLoad(() => api.get(`/api/v1/jobs?printer_uuid=${printer.uuid}&limit=10`), [printer.uuid]);
  // The backend records job changes in the background (within about a second): read again after it.
  useEffect(() => {
    const timers = [0, 1500, 3500].map((delay) => setTimeout(jobs.reload, delay));
    return () => timers.forEach(clearTimeout);
  }, [job?.uuid, job?.state]);
  useEffect(() => {
    if (jobs.error) toastError("Recent jobs", jobs.error);
  }, [jobs.error]);
  return html`<section class="card" aria-labelledby="recent-title">
    <h2 id="recent-title">Recent jobs</h2>
    ${jobs.data ? html`<${JobsTable} jobs=${jobs.data.items} printers=${[printer]} compact />` : html`<p class="muted">Loading…</p>`}
    <p><a href=${`#/jobs?printer_uuid=${printer.uuid}`}>All jobs of this printer</a></p>
  </section>`;
}

export function PrinterPage({ printerUuid }) {
  const fleet = useFleet();
  const printer = fleet.printers.find((item) => item.uuid === printerUuid);
  if (fleet.loading) return html`<p class="muted">Loading…</p>`;
  if (!printer) {
    return html`<section><h1>Printer not found</h1><p>It may belong to an agent that was removed. <a href="#/">Back to the fleet</a>.</p></section>`;
  }
  return html`<section class="printer-page" data-printer=${printer.uuid} data-status=${printer.status}>
    <div class="row between wrap">
      <h1>${printer.name} <${Badge} value=${printer.status} /></h1>
      <p class="muted">Agent ${printer.agent.name} · ${printer.adapter || "—"} ${printer.interface || ""}</p>
    </div>
    <div class="grid-2">
      <section class="card" aria-labelledby="temps-title">
        <h2 id="temps-title">Temperatures</h2>
        <${Temperatures} state=${printer.state} />
        <${TemperatureChart} printerUuid=${printer.uuid} />
      </section>
      <${JobControls} printer=${printer} />
      <${Terminal} printer=${printer} />
      <${RecentJobs} printer=${printer} />
    </div>
  </section>`;
}
