// The fleet as a page sees it: agents and printers from REST, overlaid with the live WebSocket store.

import { useEffect } from "preact/hooks";
import { api } from "./api.js";
import { onMessage } from "./live.js";
import { T } from "./protocol.js";
import { useLive, useLoad } from "./ui.js";

function fromRest(row) {
  const last = row.last_status || {};
  return {
    uuid: row.uuid,
    agent_uuid: row.agent_uuid,
    name: row.identifier || last.printer_identifier || "printer",
    status: row.status,
    adapter: row.adapter_identifier,
    interface: row.adapter_interface,
    job: row.agent_online ? last.job || null : null,
    state: last.state || null,
    last_seen_at: row.last_seen_at,
  };
}

function fromLive(data, previous) {
  return {
    ...(previous || {}),
    uuid: data.printer_uuid,
    agent_uuid: data.agent_uuid,
    name: data.printer_identifier || previous?.name || "printer",
    status: data.status,
    adapter: data.printer_adapter_identifier ?? previous?.adapter,
    interface: data.printer_adapter_interface ?? previous?.interface,
    job: data.job || null,
    state: data.state || previous?.state || null,
  };
}

/** Agents (with their printers) of the account, kept live; `reload()` re-reads REST. */
export function useFleet() {
  const live = useLive();
  const rest = useLoad(async () => {
    const [agents, printers] = await Promise.all([api.get("/api/v1/agents"), api.get("/api/v1/printers")]);
    return { agents, printers };
  });
  useEffect(
    () =>
      onMessage((message) => {
        const data = message.data || {};
        if (!rest.data) return;
        if (message.type !== T.agent_status) return;
        // An unknown agent, or one that just left (its "last seen" changed): read REST again.
        if (data.status === "offline" || !rest.data.agents.some((a) => a.uuid === data.agent_uuid)) rest.reload();
      }),
    [rest.data],
  );
  const agents = new Map();
  for (const row of rest.data?.agents || []) agents.set(row.uuid, { ...row, printers: new Map() });
  for (const [uuid, agent] of live.agents) {
    const known = agents.get(uuid);
    if (known) known.online = agent.online;
    else agents.set(uuid, { uuid, name: agent.name, online: agent.online, printers: new Map() });
  }
  for (const row of rest.data?.printers || []) {
    agents.get(row.agent_uuid)?.printers.set(row.uuid, fromRest(row));
  }
  for (const [uuid, data] of live.printers) {
    const agent = agents.get(data.agent_uuid);
    if (agent) agent.printers.set(uuid, fromLive(data, agent.printers.get(uuid)));
  }
  const list = [...agents.values()].map((agent) => {
    const printers = [...agent.printers.values()].map((printer) =>
      agent.online ? printer : { ...printer, status: "unavailable", job: null },
    );
    printers.sort((a, b) => a.name.localeCompare(b.name));
    return { ...agent, printers };
  });
  list.sort((a, b) => a.name.localeCompare(b.name));
  const printers = list.flatMap((agent) => agent.printers.map((printer) => ({ ...printer, agent })));
  return { loading: rest.loading, error: rest.error, reload: rest.reload, agents: list, printers };
}

/** Where a printer's job stands, for display: state, progress 0..1, elapsed and remaining seconds. */
export function jobView(printer) {
  const job = printer.job;
  if (!job) return null;
  return {
    uuid: job.job_uuid,
    fileUuid: job.print_file_uuid,
    name: job.name || "file",
    progress: Math.min(1, Math.max(0, Number(job.progress) || 0)),
    state: job.state || (printer.status === "busy" ? "printing" : "created"),
    elapsed: job.elapsed,
    remaining: job.remaining,
    message: job.message,
  };
}
