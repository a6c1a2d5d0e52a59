// The WebSocket contract as the dashboard uses it (docs/protocol.md is the full text).
// Every message type, status string and close code the dashboard relies on is named here and only here;
// tests/web/test_dashboard.py checks them against printerlynx/protocol/messages.py and docs/protocol.md.

export const PROTOCOL = Object.freeze({
  "path": "/api/v1/ws",
  "types": {
    "authentication": "authentication",
    "print_job": "print_job",
    "printer_command": "printer_command",
    "agent_status": "agent_status",
    "printer_status": "printer_status",
    "printer_response": "printer_response",
    "error": "error"
  },
  "ack": {"ok": "OK", "error": "ERROR"},
  "job_types": ["START", "PAUSE", "RESUME", "CANCEL"],
  "printer_statuses": ["available", "unavailable", "busy"],
  "agent_statuses": ["online", "offline"],
  "job_states": ["created", "printing", "paused", "completed", "cancelled", "failed"],
  "close_codes": {
    "policy": 1008,
    "too_big": 1009,
    "restarting": 1012,
    "replaced": 4000,
    "auth_timeout": 4001,
    "revoked": 4003
  },
  "emergency_stop": "M112",
  "max_gcode_chars": 80
});

export const T = PROTOCOL.types;
export const OK = PROTOCOL.ack.ok;
export const ERROR = PROTOCOL.ack.error;
export const CLOSE = PROTOCOL.close_codes;
