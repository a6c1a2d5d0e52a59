"""Lua scripts and URL handling of the Redis broker (key layout: see ``redis.py``).

Scripts build some key names from ``ARGV`` (the namespace prefix), so they assume a single Redis, not a
cluster — the broker's data is small and a single Redis (with a replica) is what is supported.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Presence of an agent is kept if absent or still ours; returns 0 when its status hash is missing.
REFRESH = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
return redis.call('EXPIRE', KEYS[2], ARGV[4])
"""
# Compare-and-delete: the agent may have reconnected to another instance meanwhile.
CLEAR = """
redis.call('HDEL', KEYS[3], ARGV[2])
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
if not current then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""
# Atomically take over the agents of instances whose heartbeat is gone, so one sweeper announces each.
SWEEP = """
local lost = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if id ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. 'alive:' .. id) == 0 then
    local agents_key = ARGV[1] .. 'agents:' .. id
    local entries = redis.call('HGETALL', agents_key)
    for i = 1, #entries, 2 do
      local agent, data = entries[i], entries[i + 1]
      local presence_key = ARGV[1] .. 'presence:' .. agent
      local current = redis.call('GET', presence_key)
      if (not current) or current == data then
        local status_key = ARGV[1] .. 'status:' .. agent
        local statuses = redis.call('HGETALL', status_key)
        redis.call('DEL', presence_key, status_key)
        table.insert(lost, {agent, data, statuses})
      end
    end
    redis.call('DEL', agents_key)
    redis.call('SREM', KEYS[1], id)
  end
end
return lost
"""


def split_url(url: str) -> tuple[str, str]:
    """Remove our own ``prefix`` query parameter; returns (url for redis-py, prefix)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for key, value in query if key == "prefix"), "printerlynx")
    rest = urlencode([(key, value) for key, value in query if key != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix
