"""The Lua scripts of :class:`~threadjobs.stores.RedisJobStore`.

Each status-changing script is the shared :data:`PRELUDE` followed by a short body. It
declares one queue key, ``KEYS[1]`` = ``<base>ready``, then the hashes of the jobs it was
asked about; its first argument carries the key base ``<prefix>:{<queue>}:`` (with the
retentions, grace and wake cap), from which the prelude names the queue's other keys
(:attr:`QueueKeys.fixed`) after checking that ``KEYS[1]`` belongs to that base. Scripts
that pick jobs themselves (create, claim, recover, purge) name a job's hash the same way,
``<base>job:<id>``. Every such name carries the queue's hash tag, so it is in the same
slot as ``KEYS[1]`` (the BullMQ approach; see docs/redis.md on Cluster). Fewer
arguments matter: redis-py spends about 0.6 us of client CPU packing each one.

Cost per call matters (a job takes three calls: create, claim, finish-and-claim-next),
so the helpers avoid Redis commands that do not change anything:

* counters (``counts``, hourly ``recent``) are summed in Lua tables and written once per
  field at the end of the call (``flush``): a finish-and-claim moves one job out of
  running and one in, so the running counter is not touched at all;
* each job hash is written with one ``HSET`` per transition;
* a job is sent back as the values of :data:`FIELDS` (``HMGET``), not ``HGETALL``
  pairs, and CLAIM / FINISH_CLAIM return one ``cjson`` string, which the client decodes
  in C instead of parsing ~50 RESP elements in Python.

The scripts stay EVALSHA scripts rather than Redis Functions: they then need no
``FUNCTION LOAD`` (an admin step, needed on every node of a cluster and again after a
restart without persistence), and Redis caches the compiled chunk, so the
prelude only costs creating a few closures and tables per call (5.5 us measured).

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
    "FIELDS",
    "FINISH",
    "FINISH_CLAIM",
    "HEARTBEAT",
    "NCOMMON",
    "PROGRESS",
    "PURGE",
    "RECENT",
    "RECOVER",
    "TIME",
]

NCOMMON = 1
"""Common ARGV of status-changing scripts: one string, retentions, grace, wake cap and key base."""

FIELDS = (
    "id", "type", "acct", "params", "prio", "maxr", "timeout", "status", "created", "due",
    "dedup", "att", "recov", "worker", "lease", "cancel", "progress", "result", "errors",
    "started", "finished",
)  # fmt: skip
"""The job hash fields, in the order scripts return them (``HMGET``) and Python decodes them."""

_FIELDS_LUA = "{" + ", ".join(f"'{f}'" for f in FIELDS) + "}"

PRELUDE = (
    r"""
local unpack = unpack or table.unpack
-- ARGV[1]: 'completed ms|failed ms|cancelled ms|grace ms|wake cap|<base>', one pre-encoded
-- argument (each argument costs the client ~0.6 us to pack). KEYS[1] is the ready queue;
-- every other queue key is named here from the base, which carries the queue's hash tag,
-- so all of them are in KEYS[1]'s slot (see docs/redis.md on Cluster)
local r_done, r_fail, r_cancel, grace, cap, BASE =
  string.match(ARGV[1], '^(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(.*)$')
if not BASE or KEYS[1] ~= BASE .. 'ready' then
  error('threadjobs: KEYS[1] is not the ready queue named in ARGV[1]')
end
local PREFIX = BASE .. 'job:'
local RET = {completed = tonumber(r_done), failed = tonumber(r_fail),
             cancelled = tonumber(r_cancel)}
local GRACE = tonumber(grace)
local WAKE_CAP = tonumber(cap)
local NCOMMON = 1
local K_READY, K_SCHED, K_RUN, K_EXP = KEYS[1], BASE .. 'scheduled', BASE .. 'running',
  BASE .. 'expiry'
local K_DEDUP, K_COUNTS, K_RECENT = BASE .. 'dedup', BASE .. 'counts', BASE .. 'recent'
local K_RFIELDS, K_RHOURS, K_WAKE = BASE .. 'recent:fields', BASE .. 'recent:hours',
  BASE .. 'wake'
local NFIXED = 1
-- the listing indexes, named on first use (most calls touch two or three of the 14)
local IDX = setmetatable({}, {__index = function(t, status)
  local pair = {BASE .. 'idx:' .. status, BASE .. 'idx:' .. status .. ':acct'}
  rawset(t, status, pair)
  return pair
end})
local FIELDS = """
    + _FIELDS_LUA
    + r"""
local ALLOWED = {
  queued = {running = true, cancelled = true},
  retrying = {running = true, cancelled = true},
  running = {completed = true, failed = true, cancelled = true, retrying = true,
             queued = true},
}
local TERMINAL = {completed = true, failed = true, cancelled = true}
local STATUSES = {queued = true, running = true, completed = true, failed = true,
                  cancelled = true, retrying = true}
-- deltas summed during the call, written by flush(); HOUR: the hour of each RECENT field
local COUNT, RECENT, HOUR = {}, {}, {}

local function num(x) return string.format('%.17g', x) end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function values(jk) return redis.call('HMGET', jk, unpack(FIELDS)) end

local function index(status, acct, id, add)
  if add then
    redis.call('ZADD', IDX[status][1], 0, id)
    if acct ~= '' then redis.call('ZADD', IDX[status][2], 0, acct .. '|' .. id) end
  else
    redis.call('ZREM', IDX[status][1], id)
    if acct ~= '' then redis.call('ZREM', IDX[status][2], acct .. '|' .. id) end
  end
end

local function bump(tbl, field, delta) tbl[field] = (tbl[field] or 0) + delta end

local function count(status, acct, delta)
  bump(COUNT, status .. '|*', delta)
  if acct ~= '' then bump(COUNT, status .. '|' .. acct, delta) end
end

-- one more entry into `status` this hour, for all accounts and for `acct`
local function recent(acct, jtype, status, now)
  local hour = math.floor(now / 3600000)
  local tail = '|' .. string.format('%08d', hour) .. '|' .. status .. '|' .. jtype
  bump(RECENT, '*' .. tail, 1)
  HOUR['*' .. tail] = hour
  if acct ~= '' then
    bump(RECENT, acct .. tail, 1)
    HOUR[acct .. tail] = hour
  end
end

local function move(id, acct, jtype, old, new, now)
  if old then
    if not (ALLOWED[old] and ALLOWED[old][new]) then
      error('threadjobs: illegal transition ' .. tostring(old) .. ' -> ' .. new .. ' of ' .. id)
    end
    index(old, acct, id, false)
    count(old, acct, -1)
  end
  index(new, acct, id, true)
  count(new, acct, 1)
  recent(acct, jtype, new, now)
end

-- write the summed counters: one HINCRBY per field that changed
local function flush()
  for f, d in pairs(COUNT) do
    -- a counter back at zero is deleted, so memory returns to its baseline
    if d ~= 0 and redis.call('HINCRBY', K_COUNTS, f, d) == 0 then
      redis.call('HDEL', K_COUNTS, f)
    end
  end
  for f, d in pairs(RECENT) do
    if redis.call('HINCRBY', K_RECENT, f, d) == d then  -- a new hourly field: index it
      redis.call('ZADD', K_RFIELDS, 0, f)
      redis.call('ZADD', K_RHOURS, num(HOUR[f]), f)
    end
  end
  COUNT, RECENT, HOUR = {}, {}, {}
end

local function wake(n)
  if n > WAKE_CAP then n = WAKE_CAP end
  if n < 1 then return end
  local tokens = {}
  for i = 1, n do tokens[i] = '1' end
  local len = redis.call('LPUSH', K_WAKE, unpack(tokens))
  if len > WAKE_CAP then redis.call('LTRIM', K_WAKE, 0, WAKE_CAP - 1) end
  -- tokens nobody waited for must not linger: the list lives 10 s from its creation
  if len == n then redis.call('PEXPIRE', K_WAKE, 10000) end
end

-- the ready-queue score: highest priority first, FIFO (by due time) within it
local function ready_score(prio, due) return num(-tonumber(prio) * 1e13 + due) end

local function append_error(jk, err)
  local cur = redis.call('HGET', jk, 'errors')
  if not cur or cur == '' or cur == '[]' then return '[' .. err .. ']' end
  return string.sub(cur, 1, -2) .. ',' .. err .. ']'
end

-- f: status, acct, type, prio, dedup, cancel (HMGET order of END_FIELDS)
local END_FIELDS = {'status', 'acct', 'type', 'prio', 'dedup', 'cancel'}

-- end a run (finish, recovery, release): one HSET, index and counter moves, requeue or
-- retention; `set` holds extra fields to write in the same HSET
local function end_run(jk, id, f, new, now, delay, set)
  move(id, f[2], f[3], 'running', new, now)
  redis.call('ZREM', K_RUN, id)
  set[#set + 1] = 'status'
  set[#set + 1] = new
  local drop = {'worker', 'lease'}
  if new == 'queued' or new == 'retrying' then
    local due = now + delay
    set[#set + 1] = 'due'
    set[#set + 1] = num(due)
    if due <= now then
      redis.call('ZADD', K_READY, ready_score(f[4], due), id)
    else
      redis.call('ZADD', K_SCHED, num(due), id)
    end
    wake(1)
  else
    set[#set + 1] = 'finished'
    set[#set + 1] = num(now)
    if f[6] then drop[#drop + 1] = 'cancel' end
    if f[5] and redis.call('HGET', K_DEDUP, f[5]) == id then redis.call('HDEL', K_DEDUP, f[5]) end
    redis.call('ZADD', K_EXP, num(now + RET[new]), new .. '|' .. id .. '|' .. f[2])
    -- purge() normally deletes the hash at the end of retention; the TTL is the safety net
    redis.call('PEXPIRE', jk, num(RET[new] + GRACE))
  end
  redis.call('HSET', jk, unpack(set))
  redis.call('HDEL', jk, unpack(drop))
end

-- the fenced finish of one run; returns '1' (applied), '0' (stale) or 'dup' (a resend)
local function finish(jk, attempt, status, result, err, delay, nonce, now)
  local f = redis.call('HMGET', jk, 'status', 'acct', 'type', 'prio', 'dedup', 'cancel',
                       'att', 'fin', 'id')
  if f[1] ~= 'running' or f[7] ~= attempt then
    -- this very call was applied before and its reply lost: answer as the first time
    if f[8] == nonce then return 'dup' end
    return '0'
  end
  local set = {'fin', nonce}
  if err ~= '' then
    set[3] = 'errors'
    set[4] = append_error(jk, err)
  end
  if status == 'completed' then
    set[#set + 1] = 'result'
    set[#set + 1] = result
  end
  end_run(jk, f[9], f, status, now, delay, set)
  return '1'
end

-- FINISH's arguments from ARGV[i]: 'attempt|status|delay ms|nonce', then the result and
-- the error JSON (numbers travel together: each argument costs the client to pack)
local function finish_args(i)
  local attempt, status, delay, nonce = string.match(ARGV[i], '^(-?%d+)|(%l+)|(%d+)|(.+)$')
  if not nonce then error('threadjobs: malformed finish arguments') end
  return attempt, status, ARGV[i + 1], ARGV[i + 2], tonumber(delay), nonce
end

-- claim()'s arguments from ARGV[i]: 'limit|lease ms|promote limit|drop (0/1)|worker'
local function claim_args(i)
  local limit, lease, promote, drop, worker =
    string.match(ARGV[i], '^(%d+)|(%d+)|(%d+)|([01])|(.*)$')
  if not worker then error('threadjobs: malformed claim arguments') end
  return worker, tonumber(limit), tonumber(lease), tonumber(promote), drop == '1'
end

-- promote due delayed jobs, take up to `limit` ready ones; appends to `out` and sets
-- out[2] to the ms until the next delayed job is due (-1: none). `drop`: whether the
-- caller may have been woken by a token (an idle poll after a BLPOP timeout was not,
-- and then skips the DEL that would cost a command per idle second)
local function claim(worker, limit, lease, promote_limit, drop, now, out)
  local nxt = redis.call('ZRANGE', K_SCHED, 0, 0, 'WITHSCORES')
  if nxt[2] and tonumber(nxt[2]) <= now then
    local due = redis.call('ZRANGEBYSCORE', K_SCHED, '-inf', num(now), 'LIMIT', 0, promote_limit)
    local add = {}
    for _, id in ipairs(due) do
      local f = redis.call('HMGET', PREFIX .. id, 'due', 'prio')
      if f[1] and f[2] then
        add[#add + 1] = ready_score(f[2], tonumber(f[1]))
        add[#add + 1] = id
      end
    end
    redis.call('ZREM', K_SCHED, unpack(due))
    if #add > 0 then redis.call('ZADD', K_READY, unpack(add)) end
    nxt = redis.call('ZRANGE', K_SCHED, 0, 0, 'WITHSCORES')
  end
  out[2] = nxt[2] and num(tonumber(nxt[2]) - now) or '-1'
  if limit <= 0 then return end
  local popped = redis.call('ZPOPMIN', K_READY, limit)
  if drop and #popped < 2 * limit then
    -- the ready queue is empty now, so every wake-up token left stands for a job
    -- already taken: drop them, so idle workers do not wake for nothing
    redis.call('DEL', K_WAKE)
  end
  local until_ms = num(now + lease)
  local running = {}
  for i = 1, #popped, 2 do
    local id = popped[i]
    local jk = PREFIX .. id
    local f = redis.call('HMGET', jk, 'status', 'acct', 'type', 'att', 'cancel')
    if f[1] == 'queued' or f[1] == 'retrying' then
      move(id, f[2], f[3], f[1], 'running', now)
      redis.call('HSET', jk, 'status', 'running', 'att', num(tonumber(f[4]) + 1), 'worker', worker,
                 'lease', until_ms, 'started', num(now))
      if f[5] then redis.call('HDEL', jk, 'cancel') end
      running[#running + 1] = until_ms
      running[#running + 1] = id
      out[#out + 1] = values(jk)
    end
  end
  if #running > 0 then redis.call('ZADD', K_RUN, unpack(running)) end
end
"""
)

CREATE = (
    PRELUDE
    + r"""
-- ARGV after the common part: groups of 6 per job (id, type, account, params,
-- 'priority|max retries|timeout|delay ms', dedup key); the job hashes are named from the
-- ids (same slot). Reply: only the jobs *not* created from their own id, as pairs (job
-- number from 0, id of the job holding its dedup key), so that a batch of new jobs costs
-- the client nothing to read
local G = 6
local now = now_ms()
local out = {}
local created = 0
local ready, sched = {}, {}
local any, anyacct, queued, queuedacct = {}, {}, {}, {}
local njobs = (#ARGV - NCOMMON) / G
for i = 0, njobs - 1 do
  local b = NCOMMON + i * G
  local id, jtype, acct, params = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local prio, maxr, timeout, delay = string.match(ARGV[b + 5], '^(-?%d+)|(-?%d+)|([^|]*)|(%d+)$')
  if not delay then error('threadjobs: malformed job arguments for ' .. id) end
  delay = tonumber(delay)
  local dedup = ARGV[b + 6]
  local jk = PREFIX .. id
  local holder = false
  if dedup ~= '' then holder = redis.call('HGET', K_DEDUP, dedup) end
  if holder and holder ~= id then
    out[#out + 1] = i
    out[#out + 1] = holder
  elseif redis.call('EXISTS', jk) == 1 then
    -- the same create sent again (a retried round trip): it already happened
  else
    local due = now + delay
    redis.call('HSET', jk, 'id', id, 'type', jtype, 'acct', acct, 'params', params,
               'prio', prio, 'maxr', maxr, 'timeout', timeout, 'created', num(now),
               'att', '0', 'recov', '0', 'status', 'queued', 'due', num(due))
    if dedup ~= '' then
      redis.call('HSET', jk, 'dedup', dedup)
      redis.call('HSET', K_DEDUP, dedup, id)
    end
    -- index entries are collected and written with one ZADD per key below
    any[#any + 1] = 0
    any[#any + 1] = id
    queued[#queued + 1] = 0
    queued[#queued + 1] = id
    if acct ~= '' then
      anyacct[#anyacct + 1] = 0
      anyacct[#anyacct + 1] = acct .. '|' .. id
      queuedacct[#queuedacct + 1] = 0
      queuedacct[#queuedacct + 1] = acct .. '|' .. id
    end
    count('queued', acct, 1)
    recent(acct, jtype, 'queued', now)
    if delay <= 0 then
      ready[#ready + 1] = ready_score(prio, due)
      ready[#ready + 1] = id
    else
      sched[#sched + 1] = num(due)
      sched[#sched + 1] = id
    end
    created = created + 1
  end
end
for _, kv in ipairs({{IDX.any[1], any}, {IDX.any[2], anyacct}, {IDX.queued[1], queued},
                     {IDX.queued[2], queuedacct}, {K_READY, ready}, {K_SCHED, sched}}) do
  if #kv[2] > 0 then redis.call('ZADD', kv[1], unpack(kv[2])) end
end
flush()
wake(created)
return out
"""
)

_CLAIM_REPLY = """
-- reply, as one JSON array (cjson, C on both sides: parsing ~50 RESP elements in Python
-- per call cost more than the script itself): server ms, ms until the next delayed job
-- (-1: none), finish state, the finished job's values (or 0), then each claimed job's values
"""

CLAIM = (
    PRELUDE
    + _CLAIM_REPLY
    + r"""
local now = now_ms()
local out = {num(now), '-1', '', 0}
local worker, limit, lease, promote, drop = claim_args(NCOMMON + 1)
claim(worker, limit, lease, promote, drop, now, out)
flush()
return cjson.encode(out)
"""
)

FINISH = (
    PRELUDE
    + r"""
-- reply: '1' and the job's values (JSON, as CLAIM's); '0' (stale: nothing written)
local jk = KEYS[NFIXED + 1]
local attempt, status, result, err, delay, nonce = finish_args(NCOMMON + 1)
local state = finish(jk, attempt, status, result, err, delay, nonce, now_ms())
if state == '0' then return {'0'} end
flush()
return {'1', cjson.encode(values(jk))}
"""
)

FINISH_CLAIM = (
    PRELUDE
    + _CLAIM_REPLY
    + r"""
-- FINISH's three ARGV, then CLAIM's one
local jk = KEYS[NFIXED + 1]
local now = now_ms()
local attempt, status, result, err, delay, nonce = finish_args(NCOMMON + 1)
local state = finish(jk, attempt, status, result, err, delay, nonce, now)
local out = {num(now), '-1', state, 0}
if state ~= '0' then out[4] = values(jk) end
local worker, limit, lease, promote, drop = claim_args(NCOMMON + 4)
claim(worker, limit, lease, promote, drop, now, out)
flush()
return cjson.encode(out)
"""
)

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

CANCEL = (
    PRELUDE
    + r"""
-- reply: outcome, then the job's values (not for not_found)
local jk = KEYS[NFIXED + 1]
local f = redis.call('HMGET', jk, 'status', 'acct', 'type', 'id', 'dedup', 'cancel')
if not f[1] then return {'not_found'} end
if TERMINAL[f[1]] then return {'already_finished', values(jk)} end
if f[1] == 'running' then
  redis.call('HSET', jk, 'cancel', '1')
  return {'requested', values(jk)}
end
local now = now_ms()
local id = f[4]
redis.call('ZREM', K_READY, id)
redis.call('ZREM', K_SCHED, id)
move(id, f[2], f[3], f[1], 'cancelled', now)
redis.call('HSET', jk, 'status', 'cancelled', 'finished', num(now))
-- a job released at shutdown keeps a cancel flag set while it ran: it is moot now
if f[6] then redis.call('HDEL', jk, 'cancel') end
if f[5] and redis.call('HGET', K_DEDUP, f[5]) == id then redis.call('HDEL', K_DEDUP, f[5]) end
redis.call('ZADD', K_EXP, num(now + RET.cancelled), 'cancelled|' .. id .. '|' .. f[2])
redis.call('PEXPIRE', jk, num(RET.cancelled + GRACE))
flush()
return {'cancelled', values(jk)}
"""
)

RECOVER = (
    PRELUDE
    + r"""
-- reply: the values of each job changed
local max_recoveries, limit = tonumber(ARGV[NCOMMON + 1]), tonumber(ARGV[NCOMMON + 2])
local lost_message = ARGV[NCOMMON + 3]
local now = now_ms()
local out = {}
local ids = redis.call('ZRANGEBYSCORE', K_RUN, '-inf', num(now), 'LIMIT', 0, limit)
for _, id in ipairs(ids) do
  local jk = PREFIX .. id
  local f = redis.call('HMGET', jk, 'status', 'acct', 'type', 'prio', 'dedup', 'cancel',
                       'recov', 'att')
  if f[1] ~= 'running' then
    redis.call('ZREM', K_RUN, id)  -- a stale entry; nothing to recover
  else
    if f[6] == '1' then
      end_run(jk, id, f, 'cancelled', now, 0, {})
    elseif tonumber(f[7]) >= max_recoveries then
      local err = append_error(jk, '{"attempt":' .. f[8] .. ',"type":"threadjobs.LostWorker",'
        .. '"message":' .. lost_message .. ',"traceback":"","at":'
        .. string.format('%.3f', now / 1000) .. '}')
      end_run(jk, id, f, 'failed', now, 0, {'errors', err})
    else
      end_run(jk, id, f, 'queued', now, 0, {'recov', num(tonumber(f[7]) + 1)})
    end
    out[#out + 1] = values(jk)
  end
end
flush()
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
  if status and STATUSES[status] then
    redis.call('DEL', PREFIX .. id)
    index(status, acct, id, false)
    index('any', acct, id, false)
    count(status, acct, -1)
    removed = removed + 1
  end
end
flush()
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
