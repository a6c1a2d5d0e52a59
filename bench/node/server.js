// Bare Node `ws` relay for bench/relay.py: the same frames and paths as the Printerlynx backend, none of its
// work. Tokens are not checked ("u.<account>" for a session, "a.<account>.<agent_uuid>" for an agent);
// a printer_status is parsed, stamped with the connection's agent_uuid, serialised once and sent to the
// owner's sessions. Usage: node server.js <port>
'use strict';
const { WebSocketServer } = require('ws');

const port = parseInt(process.argv[2] || process.env.PORT || '8000', 10);
const sessions = new Map(); // account -> Set(ws)
const AUTH_OK_USER = '{"type":"authentication","data":{"status":"OK"}}';
const AUTH_OK_AGENT = '{"type":"authentication","data":{"status":"success"}}';

const server = require('http').createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
  res.end('{"status":"ok"}');
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false, maxPayload: 65536 });

wss.on('connection', (ws, req) => {
  const isAgent = req.url === '/api/v1/ws/agent';
  let account = null;
  let agentUuid = null;
  ws.on('message', (raw) => {
    const message = JSON.parse(raw);
    if (account === null) {
      const parts = String(message.data.token).split('.');
      account = parts[1];
      if (isAgent) {
        agentUuid = parts[2];
        ws.send(AUTH_OK_AGENT);
      } else {
        let group = sessions.get(account);
        if (!group) sessions.set(account, (group = new Set()));
        group.add(ws);
        ws.send(AUTH_OK_USER);
      }
      return;
    }
    if (!isAgent) return;
    message.data.agent_uuid = agentUuid; // stamped from the connection, as the backend does
    const targets = sessions.get(account);
    if (targets && targets.size) {
      const text = JSON.stringify(message);
      for (const target of targets) target.send(text);
    }
  });
  ws.on('close', () => {
    if (!isAgent && account !== null) {
      const group = sessions.get(account);
      if (group) group.delete(ws);
    }
  });
  ws.on('error', () => {});
});

server.listen(port, '127.0.0.1', 4096);
process.on('SIGTERM', () => process.exit(0));
