"""The Lua of :class:`~threadjobs.stores.RedisJobStore`, and how it reaches Redis.

The status-changing code (create, claim, finish, finish-and-claim, cancel, recover,
purge) is one Lua library, ``lua/threadjobs.lua``; read its header for the conventions
it keeps (one declared key per call, key names from the queue's base, server time,
JSON copied but never decoded). It reaches Redis one of two ways:

* **as a function library** (Redis 7+): :data:`FUNCTION_LIBRARY` is loaded once with
  ``FUNCTION LOAD`` (by the store, on first use, and again if Redis lost it), and each
  call is an ``FCALL`` of one entry. The library's code runs once, not per call: this
  saved about 6 us of Redis CPU per call (40 % of an empty claim) on the bench machine.
  The library and its functions are named after a hash of the code
  (:data:`LIBRARY_NAME`), so processes running different threadjobs versions on one
  Redis never call each other's code.
* **as EVALSHA scripts** (:data:`CREATE`, :data:`CLAIM`...: the library followed by
  ``return ENTRIES.<NAME>(KEYS, ARGV)``): where functions are not available (Redis 6.2,
  an ACL user without ``FUNCTION``, fakeredis, Cluster or custom clients, which keep
  redis-py's path) and whenever an ``FCALL`` fails for a reason the store can recover
  from. Both ways run the same code on the same keys.

Heartbeats, progress, recent counts and the clock are small standalone scripts below.
"""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files

__all__ = [
    "CANCEL",
    "CLAIM",
    "CREATE",
    "ENTRIES",
    "FIELDS",
    "FINISH",
    "FINISH_CLAIM",
    "FUNCTIONS",
    "FUNCTION_LIBRARY",
    "HEARTBEAT",
    "LIBRARY",
    "LIBRARY_NAME",
    "PROGRESS",
    "PURGE",
    "RECENT",
    "RECOVER",
    "TIME",
]

FIELDS = (
    "id", "type", "acct", "params", "prio", "maxr", "timeout", "status", "created", "due",
    "dedup", "att", "recov", "worker", "lease", "cancel", "progress", "result", "errors",
    "started", "finished",
)  # fmt: skip
"""The job hash fields, in the order scripts return them (``HMGET``) and Python decodes them."""

_POSITION = re.compile(r"^local (I_[A-Z]+) = (\d+)\n", re.MULTILINE)


def _inline_positions(source: str) -> str:
    """Write each ``I_<FIELD>`` of the Lua as its number, checked against :data:`FIELDS`.

    Lua 5.1 has no constants: a module-level ``local`` that a function uses is an upvalue
    of it, and making a closure costs per upvalue. As EVALSHA scripts, every closure of
    the library is made again on every call; the 16 positions alone cost 3.3 us of Redis
    CPU per call on the bench machine. The source keeps the names for the reader.
    """
    positions = dict(_POSITION.findall(source))
    for name, number in positions.items():
        if FIELDS[int(number) - 1] != name[2:].lower():
            raise AssertionError(f"lua/threadjobs.lua: {name} = {number} disagrees with FIELDS")
    body = _POSITION.sub("", source)
    return re.sub(r"\bI_[A-Z]+\b", lambda m: positions[m.group()], body)


_SOURCE = files(__package__).joinpath("lua", "threadjobs.lua").read_text(encoding="utf-8")
assert "local FIELDS = {\n  " + ", ".join(f"'{f}'" for f in FIELDS[:10]) in _SOURCE
LIBRARY = _inline_positions(_SOURCE)
"""The Lua library, without the function-library header."""

ENTRIES = ("CREATE", "CLAIM", "FINISH", "FINISH_CLAIM", "CANCEL", "RECOVER", "PURGE")
"""The library's entries, by the names the store calls them."""

_VERSION = hashlib.sha1(LIBRARY.encode(), usedforsecurity=False).hexdigest()[:12]
LIBRARY_NAME = f"threadjobs_{_VERSION}"
"""The function library's name: changes whenever the code does."""

FUNCTIONS = {name: f"threadjobs_{_VERSION}_{name.lower()}" for name in ENTRIES}
"""The FCALL name of each entry."""

FUNCTION_LIBRARY = f"#!lua name={LIBRARY_NAME}\n{LIBRARY}\n" + "".join(
    f"redis.register_function('{FUNCTIONS[name]}', ENTRIES.{name})\n" for name in ENTRIES
)
"""The source for ``FUNCTION LOAD``."""


def _eval_source(name: str) -> str:
    return f"{LIBRARY}\nreturn ENTRIES.{name}(KEYS, ARGV)\n"


CREATE = _eval_source("CREATE")
CLAIM = _eval_source("CLAIM")
FINISH = _eval_source("FINISH")
FINISH_CLAIM = _eval_source("FINISH_CLAIM")
CANCEL = _eval_source("CANCEL")
RECOVER = _eval_source("RECOVER")
PURGE = _eval_source("PURGE")

HEARTBEAT = r"""
-- KEYS: running zset, then one job hash per lease; ARGV: worker, lease ms, attempts
local unpack = unpack or table.unpack
local worker, lease = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = string.format('%.17g', now + lease)
local out = {}
local running = {}
for i = 2, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'status', 'att', 'worker', 'cancel', 'id')
  if f[1] == 'running' and f[2] == ARGV[i + 1] and f[3] == worker then
    redis.call('HSET', KEYS[i], 'lease', until_ms)
    running[#running + 1] = until_ms
    running[#running + 1] = f[5]
    out[#out + 1] = f[4] == '1' and '2' or '1'
  else
    out[#out + 1] = '0'
  end
end
if #running > 0 then redis.call('ZADD', KEYS[1], unpack(running)) end
return out
"""

PROGRESS = r"""
-- KEYS: the job hash; ARGV: attempt, progress JSON
local f = redis.call('HMGET', KEYS[1], 'status', 'att', 'cancel')
if f[1] ~= 'running' or f[2] ~= ARGV[1] then return '0' end
redis.call('HSET', KEYS[1], 'progress', ARGV[2])
if f[3] == '1' then return '2' end
return '1'
"""


RECENT = r"""
-- KEYS: recent hash, recent:fields; ARGV: account key, hours
local unpack = unpack or table.unpack
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local first = math.floor(now / 3600000) - tonumber(ARGV[2]) + 1
if first < 0 then first = 0 end
local fields = redis.call('ZRANGEBYLEX', KEYS[2],
  '[' .. ARGV[1] .. '|' .. string.format('%08d', first), '(' .. ARGV[1] .. '}')
local values = {}
for i = 1, #fields, 500 do
  local chunk = {}
  for j = i, math.min(i + 499, #fields) do chunk[#chunk + 1] = fields[j] end
  local got = redis.call('HMGET', KEYS[1], unpack(chunk))
  for _, v in ipairs(got) do values[#values + 1] = v or '0' end
end
return {fields, values}
"""

TIME = r"""
-- KEYS[1]: any key of the queue, so that a cluster client asks the queue's own node
return redis.call('TIME')
"""
