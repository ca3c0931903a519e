"""The Lua scripts of :class:`~threadjobs.stores.RedisJobStore`.

Each status-changing script is the shared :data:`PRELUDE` followed by its body, and
receives the queue's fixed keys (:attr:`QueueKeys.fixed`, 24 of them) first, then the
hashes of the jobs it was asked about. Scripts that pick jobs themselves (claim,
recover, purge) build the hash name of a job they found from the job-key prefix in
``ARGV[1]``; that name carries the queue's hash tag, so it is in the same slot as
every declared key (the BullMQ approach; see docs/redis.md on Cluster).

Conventions that keep Lua 5.1 (Redis) and Lua 5.4 (fakeredis' lupa) in agreement:
times are integer milliseconds from ``redis.call('TIME')``; numbers are passed to
Redis through ``num()`` so no runtime formats them its own way; user data (params,
results, errors, progress) are JSON strings that Lua copies but never decodes.
"""

from __future__ import annotations

__all__ = [
    "CANCEL",
    "CLAIM",
    "CREATE",
    "FINISH",
    "HEARTBEAT",
    "NCOMMON",
    "PROGRESS",
    "PURGE",
    "RECENT",
    "RECOVER",
    "TIME",
]

NCOMMON = 6
"""Common ARGV of status-changing scripts: job-key prefix, three retentions, grace, wake cap."""

PRELUDE = r"""
local unpack = unpack or table.unpack
local PREFIX = ARGV[1]
local RET = {completed = tonumber(ARGV[2]), failed = tonumber(ARGV[3]),
             cancelled = tonumber(ARGV[4])}
local GRACE = tonumber(ARGV[5])
local WAKE_CAP = tonumber(ARGV[6])
local NCOMMON = 6
local K_READY, K_SCHED, K_RUN, K_EXP = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_DEDUP, K_COUNTS, K_RECENT, K_RFIELDS = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_RHOURS, K_WAKE = KEYS[9], KEYS[10]
local NFIXED = 24
local IDX = {any = {KEYS[11], KEYS[12]}}
local STATUSES = {'queued', 'running', 'completed', 'failed', 'cancelled', 'retrying'}
for i, s in ipairs(STATUSES) do IDX[s] = {KEYS[11 + 2 * i], KEYS[12 + 2 * i]} end
local ALLOWED = {
  queued = {running = true, cancelled = true},
  retrying = {running = true, cancelled = true},
  running = {completed = true, failed = true, cancelled = true, retrying = true,
             queued = true},
}
local TERMINAL = {completed = true, failed = true, cancelled = true}

local function num(x) return string.format('%.17g', x) end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function index(status, acct, id, add)
  if add then
    redis.call('ZADD', IDX[status][1], 0, id)
    if acct ~= '' then redis.call('ZADD', IDX[status][2], 0, acct .. '|' .. id) end
  else
    redis.call('ZREM', IDX[status][1], id)
    if acct ~= '' then redis.call('ZREM', IDX[status][2], acct .. '|' .. id) end
  end
end

local function count(status, acct, delta)
  local f = status .. '|*'
  -- a counter back at zero is deleted, so memory returns to its baseline
  if redis.call('HINCRBY', K_COUNTS, f, delta) == 0 then redis.call('HDEL', K_COUNTS, f) end
  if acct ~= '' then
    f = status .. '|' .. acct
    if redis.call('HINCRBY', K_COUNTS, f, delta) == 0 then redis.call('HDEL', K_COUNTS, f) end
  end
end

local function bump_recent(acct, jtype, status, now)
  local hour = math.floor(now / 3600000)
  local who = {'*'}
  if acct ~= '' then who[2] = acct end
  for _, a in ipairs(who) do
    local f = a .. '|' .. string.format('%08d', hour) .. '|' .. status .. '|' .. jtype
    if redis.call('HINCRBY', K_RECENT, f, 1) == 1 then
      redis.call('ZADD', K_RFIELDS, 0, f)
      redis.call('ZADD', K_RHOURS, num(hour), f)
    end
  end
end

local function move(jk, id, acct, jtype, old, new, now)
  if old then
    if not (ALLOWED[old] and ALLOWED[old][new]) then
      error('threadjobs: illegal transition ' .. tostring(old) .. ' -> ' .. new .. ' of ' .. id)
    end
    index(old, acct, id, false)
    count(old, acct, -1)
  end
  index(new, acct, id, true)
  count(new, acct, 1)
  bump_recent(acct, jtype, new, now)
  redis.call('HSET', jk, 'status', new)
end

local function wake(n)
  if n > WAKE_CAP then n = WAKE_CAP end
  if n < 1 then return end
  local tokens = {}
  for i = 1, n do tokens[i] = '1' end
  redis.call('LPUSH', K_WAKE, unpack(tokens))
  redis.call('LTRIM', K_WAKE, 0, WAKE_CAP - 1)
  -- tokens nobody waited for must not linger (or wake a worker much later)
  redis.call('PEXPIRE', K_WAKE, 10000)
end

local function enqueue(jk, id, due, now)
  redis.call('HSET', jk, 'due', num(due))
  if due <= now then
    local prio = tonumber(redis.call('HGET', jk, 'prio'))
    redis.call('ZADD', K_READY, num(-prio * 1e13 + due), id)
  else
    redis.call('ZADD', K_SCHED, num(due), id)
  end
end

local function terminal(jk, id, acct, status, now)
  redis.call('HSET', jk, 'finished', num(now))
  redis.call('HDEL', jk, 'cancel')
  local d = redis.call('HGET', jk, 'dedup')
  if d and redis.call('HGET', K_DEDUP, d) == id then redis.call('HDEL', K_DEDUP, d) end
  redis.call('ZADD', K_EXP, num(now + RET[status]), status .. '|' .. id .. '|' .. acct)
  -- purge() normally deletes the hash at the end of retention; the TTL is the safety net
  redis.call('PEXPIRE', jk, num(RET[status] + GRACE))
end

local function end_run(jk, id, new, now, delay)
  local f = redis.call('HMGET', jk, 'acct', 'type')
  redis.call('ZREM', K_RUN, id)
  redis.call('HDEL', jk, 'worker', 'lease')
  move(jk, id, f[1], f[2], 'running', new, now)
  if new == 'queued' or new == 'retrying' then
    enqueue(jk, id, now + delay, now)
    wake(1)
  else
    terminal(jk, id, f[1], new, now)
  end
end

local function append_error(jk, err)
  local cur = redis.call('HGET', jk, 'errors')
  if not cur or cur == '' or cur == '[]' then
    cur = '[' .. err .. ']'
  else
    cur = string.sub(cur, 1, -2) .. ',' .. err .. ']'
  end
  redis.call('HSET', jk, 'errors', cur)
end
"""

CREATE = (
    PRELUDE
    + r"""
-- ARGV after the common part: groups of 9 per job
local G = 9
local now = now_ms()
local out = {}
local created = 0
local njobs = (#ARGV - NCOMMON) / G
for i = 0, njobs - 1 do
  local b = NCOMMON + i * G
  local id, jtype, acct, params = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local prio, maxr, timeout = ARGV[b + 5], ARGV[b + 6], ARGV[b + 7]
  local delay, dedup = tonumber(ARGV[b + 8]), ARGV[b + 9]
  local jk = KEYS[NFIXED + 1 + i]
  local holder = false
  if dedup ~= '' then holder = redis.call('HGET', K_DEDUP, dedup) end
  if holder and holder ~= id then
    out[#out + 1] = holder
    out[#out + 1] = '0'
  elseif redis.call('EXISTS', jk) == 1 then
    -- the same create sent again (a retried round trip): it already happened
    out[#out + 1] = id
    out[#out + 1] = '1'
  else
    redis.call('HSET', jk, 'id', id, 'type', jtype, 'acct', acct, 'params', params,
               'prio', prio, 'maxr', maxr, 'timeout', timeout, 'created', num(now),
               'att', '0', 'recov', '0')
    if dedup ~= '' then
      redis.call('HSET', jk, 'dedup', dedup)
      redis.call('HSET', K_DEDUP, dedup, id)
    end
    index('any', acct, id, true)
    move(jk, id, acct, jtype, nil, 'queued', now)
    enqueue(jk, id, now + delay, now)
    created = created + 1
    out[#out + 1] = id
    out[#out + 1] = '1'
  end
end
wake(created)
return out
"""
)

CLAIM = (
    PRELUDE
    + r"""
local worker, limit = ARGV[NCOMMON + 1], tonumber(ARGV[NCOMMON + 2])
local lease, promote_limit = tonumber(ARGV[NCOMMON + 3]), tonumber(ARGV[NCOMMON + 4])
local now = now_ms()
-- promote due delayed jobs and retries, oldest first
local due = redis.call('ZRANGEBYSCORE', K_SCHED, '-inf', num(now), 'LIMIT', 0, promote_limit)
for _, id in ipairs(due) do
  local f = redis.call('HMGET', PREFIX .. id, 'due', 'prio')
  redis.call('ZREM', K_SCHED, id)
  if f[1] and f[2] then
    redis.call('ZADD', K_READY, num(-tonumber(f[2]) * 1e13 + tonumber(f[1])), id)
  end
end
local out = {num(now), '-1'}
if limit > 0 then
  local popped = redis.call('ZPOPMIN', K_READY, limit)
  for i = 1, #popped, 2 do
    local id = popped[i]
    local jk = PREFIX .. id
    local f = redis.call('HMGET', jk, 'status', 'acct', 'type')
    if f[1] == 'queued' or f[1] == 'retrying' then
      move(jk, id, f[2], f[3], f[1], 'running', now)
      redis.call('HINCRBY', jk, 'att', 1)
      redis.call('HSET', jk, 'worker', worker, 'lease', num(now + lease), 'started', num(now))
      redis.call('HDEL', jk, 'cancel')
      redis.call('ZADD', K_RUN, num(now + lease), id)
      out[#out + 1] = redis.call('HGETALL', jk)
    end
  end
end
local nxt = redis.call('ZRANGE', K_SCHED, 0, 0, 'WITHSCORES')
if nxt[2] then out[2] = num(tonumber(nxt[2]) - now) end
return out
"""
)

HEARTBEAT = r"""
-- KEYS: running zset, then one job hash per lease; ARGV: worker, lease ms, attempts
local worker, lease = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = string.format('%.17g', now + lease)
local out = {}
for i = 2, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'status', 'att', 'worker', 'cancel', 'id')
  if f[1] == 'running' and f[2] == ARGV[i + 1] and f[3] == worker then
    redis.call('HSET', KEYS[i], 'lease', until_ms)
    redis.call('ZADD', KEYS[1], until_ms, f[5])
    out[#out + 1] = f[4] == '1' and '2' or '1'
  else
    out[#out + 1] = '0'
  end
end
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

FINISH = (
    PRELUDE
    + r"""
local jk = KEYS[NFIXED + 1]
local attempt, status = ARGV[NCOMMON + 1], ARGV[NCOMMON + 2]
local result, err = ARGV[NCOMMON + 3], ARGV[NCOMMON + 4]
local delay, nonce = tonumber(ARGV[NCOMMON + 5]), ARGV[NCOMMON + 6]
local f = redis.call('HMGET', jk, 'status', 'att', 'fin', 'id')
if f[1] ~= 'running' or f[2] ~= attempt then
  -- this very call was applied before and its reply lost: answer as the first time
  if f[3] == nonce then return {'1', redis.call('HGETALL', jk)} end
  return {'0'}
end
local now = now_ms()
if err ~= '' then append_error(jk, err) end
if status == 'completed' then redis.call('HSET', jk, 'result', result) end
redis.call('HSET', jk, 'fin', nonce)
end_run(jk, f[4], status, now, delay)
return {'1', redis.call('HGETALL', jk)}
"""
)

CANCEL = (
    PRELUDE
    + r"""
local jk = KEYS[NFIXED + 1]
local f = redis.call('HMGET', jk, 'status', 'acct', 'type', 'id')
if not f[1] then return {'not_found'} end
if TERMINAL[f[1]] then return {'already_finished', redis.call('HGETALL', jk)} end
if f[1] == 'running' then
  redis.call('HSET', jk, 'cancel', '1')
  return {'requested', redis.call('HGETALL', jk)}
end
local now = now_ms()
redis.call('ZREM', K_READY, f[4])
redis.call('ZREM', K_SCHED, f[4])
move(jk, f[4], f[2], f[3], f[1], 'cancelled', now)
terminal(jk, f[4], f[2], 'cancelled', now)
return {'cancelled', redis.call('HGETALL', jk)}
"""
)

RECOVER = (
    PRELUDE
    + r"""
local max_recoveries, limit = tonumber(ARGV[NCOMMON + 1]), tonumber(ARGV[NCOMMON + 2])
local lost_message = ARGV[NCOMMON + 3]
local now = now_ms()
local out = {}
local ids = redis.call('ZRANGEBYSCORE', K_RUN, '-inf', num(now), 'LIMIT', 0, limit)
for _, id in ipairs(ids) do
  local jk = PREFIX .. id
  local f = redis.call('HMGET', jk, 'status', 'cancel', 'recov', 'att')
  if f[1] ~= 'running' then
    redis.call('ZREM', K_RUN, id)  -- a stale entry; nothing to recover
  else
    if f[2] == '1' then
      end_run(jk, id, 'cancelled', now, 0)
    elseif tonumber(f[3]) >= max_recoveries then
      append_error(jk, '{"attempt":' .. f[4] .. ',"type":"threadjobs.LostWorker","message":'
        .. lost_message .. ',"traceback":"","at":' .. string.format('%.3f', now / 1000) .. '}')
      end_run(jk, id, 'failed', now, 0)
    else
      redis.call('HINCRBY', jk, 'recov', 1)
      end_run(jk, id, 'queued', now, 0)
    end
    out[#out + 1] = redis.call('HGETALL', jk)
  end
end
return out
"""
)

PURGE = (
    PRELUDE
    + r"""
local limit = tonumber(ARGV[NCOMMON + 1])
local now = now_ms()
local removed = 0
local gone = redis.call('ZRANGEBYSCORE', K_EXP, '-inf', num(now), 'LIMIT', 0, limit)
for _, m in ipairs(gone) do
  local status, id, acct = string.match(m, '^([^|]*)|([^|]*)|(.*)$')
  redis.call('ZREM', K_EXP, m)
  if status and IDX[status] then
    redis.call('DEL', PREFIX .. id)
    index(status, acct, id, false)
    index('any', acct, id, false)
    count(status, acct, -1)
    removed = removed + 1
  end
end
-- hourly counters older than two days are never read again
local oldest = math.floor(now / 3600000) - 48
local old = redis.call('ZRANGEBYSCORE', K_RHOURS, '-inf', '(' .. num(oldest), 'LIMIT', 0, limit)
for _, field in ipairs(old) do
  redis.call('HDEL', K_RECENT, field)
  redis.call('ZREM', K_RFIELDS, field)
  redis.call('ZREM', K_RHOURS, field)
end
return removed
"""
)

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
