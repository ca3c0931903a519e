-- The Redis side of threadjobs' RedisJobStore: every status change of a job, atomically.
--
-- Loaded two ways (see _redis_scripts.py): as a Redis 7 function library, where this
-- file runs once and each FCALL only runs its entry function; or, where functions are
-- unavailable (Redis 6.2, fakeredis, Cluster, an ACL without FUNCTION), as one EVALSHA
-- script per entry: this file followed by `return <entry>(KEYS, ARGV)`.
--
-- Rules this file keeps:
-- * At load time a function library may not touch globals (string, tonumber...): the
--   top level only builds constant tables and defines functions; setup() does the rest.
-- * Module-level state survives between FCALLs. setup() resets everything per call; the
--   only state kept on purpose is CONF, the parsed common argument (parse it once).
-- * Status-changing entries declare KEYS[1] = <base>ready, the job's hash as KEYS[2]
--   when they change one job, and last <base>guard, a key never written (so that Redis
--   Cluster refuses them while the queue's slot is half moved). ARGV[1] is
--   'completed ms|failed ms|cancelled ms|grace ms|wake cap|<base>', and every other key
--   is named from <base>, which carries the queue's hash tag: same slot as KEYS[1].
-- * Times are integer milliseconds from TIME; numbers reach Redis through num(), so Lua
--   5.1 (Redis) and 5.4 (fakeredis) write them alike. User data (params, results, errors,
--   progress) are JSON strings copied, never decoded.
-- * Cost: each redis.call costs 0.3-4 us (reading 21 fields costs the most), so a job's
--   hash is read once per call and the copy patched; counters are summed in tables and
--   written once per field by flush().

local upk -- table.unpack (5.4) or unpack (5.1), set by setup()

local FIELDS = {
  'id', 'type', 'acct', 'params', 'prio', 'maxr', 'timeout', 'status', 'created', 'due',
  'dedup', 'att', 'recov', 'worker', 'lease', 'cancel', 'progress', 'result', 'errors',
  'started', 'finished',
}
-- positions in FIELDS. The store's loader writes these in as numbers (see
-- _redis_scripts.py), so they cost no upvalue: one per line, `local I_<FIELD> = <n>`
local I_ID = 1
local I_TYPE = 2
local I_ACCT = 3
local I_PRIO = 5
local I_STATUS = 8
local I_DUE = 10
local I_DEDUP = 11
local I_ATT = 12
local I_RECOV = 13
local I_WORKER = 14
local I_LEASE = 15
local I_CANCEL = 16
local I_RESULT = 18
local I_ERRORS = 19
local I_STARTED = 20
local I_FINISHED = 21

local ALLOWED = {
  queued = {running = true, cancelled = true},
  retrying = {running = true, cancelled = true},
  running = {completed = true, failed = true, cancelled = true, retrying = true,
             queued = true},
}
local TERMINAL = {completed = true, failed = true, cancelled = true}
local STATUSES = {queued = true, running = true, completed = true, failed = true,
                  cancelled = true, retrying = true}

-- per queue configuration, by the common argument's text (bounded: a handful of queues)
local CONF, NCONF = {}, 0
-- of this call: the queue's settings and key names (C.ready, C.sched...)
local C, PREFIX
-- of this call: server time (ms, and as text) and the counter deltas to write
local NOW, NOW_S, HOUR_S, HOUR_NUM
local COUNT, RECENT

local function num(x) return string.format('%.17g', x) end

local function parse_conf(raw)
  local r_done, r_fail, r_cancel, grace, cap, base =
    string.match(raw, '^(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(.*)$')
  if not base then error('threadjobs: malformed common argument') end
  return {
    ret = {completed = tonumber(r_done), failed = tonumber(r_fail),
           cancelled = tonumber(r_cancel)},
    grace = tonumber(grace), cap = tonumber(cap), base = base, prefix = base .. 'job:',
    ready = base .. 'ready', sched = base .. 'scheduled', run = base .. 'running',
    exp = base .. 'expiry', dedup = base .. 'dedup', counts = base .. 'counts',
    recent = base .. 'recent', rfields = base .. 'recent:fields',
    rhours = base .. 'recent:hours', wake = base .. 'wake', guard = base .. 'guard',
    idx = {}, -- status -> {all-accounts index, per-account index}, named on first use
  }
end

-- start a status-changing call: settings, key names, server time, empty deltas
local function setup(keys, argv)
  upk = table.unpack or unpack
  local raw = argv[1]
  local c = CONF[raw]
  if not c then
    c = parse_conf(raw)
    if NCONF >= 64 then CONF, NCONF = {}, 0 end
    CONF[raw], NCONF = c, NCONF + 1
  end
  if keys[1] ~= c.ready then
    error('threadjobs: KEYS[1] is not the ready queue named in ARGV[1]')
  end
  -- a key that never exists, declared so that Redis Cluster refuses the call while the
  -- queue's slot is half moved (see QueueKeys.guard in _redis_keys.py)
  if keys[#keys] ~= c.guard then
    error('threadjobs: the last of KEYS is not the guard key named in ARGV[1]')
  end
  C, PREFIX = c, c.prefix
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  NOW_S = num(NOW)
  HOUR_NUM = math.floor(NOW / 3600000)
  HOUR_S = nil -- formatted when first needed
  COUNT, RECENT = {}, {}
end

local function idx(status)
  local pair = C.idx[status]
  if not pair then
    pair = {C.base .. 'idx:' .. status, C.base .. 'idx:' .. status .. ':acct'}
    C.idx[status] = pair
  end
  return pair
end

local function index(status, acct, id, add)
  local pair = idx(status)
  if add then
    redis.call('ZADD', pair[1], 0, id)
    if acct ~= '' then redis.call('ZADD', pair[2], 0, acct .. '|' .. id) end
  else
    redis.call('ZREM', pair[1], id)
    if acct ~= '' then redis.call('ZREM', pair[2], acct .. '|' .. id) end
  end
end

-- tbl[a][b] += delta, for '*' (all accounts) and for `acct`
local function bump2(tbl, a, acct, b, delta)
  local per = tbl[a]
  if not per then per = {}; tbl[a] = per end
  local all = per['*']
  if not all then all = {}; per['*'] = all end
  all[b] = (all[b] or 0) + delta
  if acct ~= '' then
    local one = per[acct]
    if not one then one = {}; per[acct] = one end
    one[b] = (one[b] or 0) + delta
  end
end

-- jobs in `status` now: COUNT[status][acct][''] (the last level keeps bump2's shape)
local function count(status, acct, delta) bump2(COUNT, status, acct, '', delta) end

-- one more entry into `status` this hour, per job type: RECENT[status][acct][type]
local function recent(acct, jtype, status) bump2(RECENT, status, acct, jtype, 1) end

local function move(id, acct, jtype, old, new)
  if old then
    if not (ALLOWED[old] and ALLOWED[old][new]) then
      error('threadjobs: illegal transition ' .. tostring(old) .. ' -> ' .. new .. ' of ' .. id)
    end
    index(old, acct, id, false)
    count(old, acct, -1)
  end
  index(new, acct, id, true)
  count(new, acct, 1)
  recent(acct, jtype, new)
end

-- write the summed counters: one HINCRBY per field that changed
local function flush()
  for status, per in pairs(COUNT) do
    for acct, d in pairs(per) do
      d = d['']
      if d ~= 0 then
        local f = status .. '|' .. acct
        -- a counter back at zero is deleted, so memory returns to its baseline
        if redis.call('HINCRBY', C.counts, f, d) == 0 then redis.call('HDEL', C.counts, f) end
      end
    end
  end
  for status, per in pairs(RECENT) do
    for acct, types in pairs(per) do
      for jtype, d in pairs(types) do
        if not HOUR_S then HOUR_S = string.format('%08d', HOUR_NUM) end
        local f = acct .. '|' .. HOUR_S .. '|' .. status .. '|' .. jtype
        if redis.call('HINCRBY', C.recent, f, d) == d then -- a new hourly field: index it
          redis.call('ZADD', C.rfields, 0, f)
          redis.call('ZADD', C.rhours, num(HOUR_NUM), f)
        end
      end
    end
  end
  COUNT, RECENT = {}, {}
end

local function wake(n)
  local cap = C.cap
  if n > cap then n = cap end
  if n < 1 then return end
  local tokens = {}
  for i = 1, n do tokens[i] = '1' end
  local len = redis.call('LPUSH', C.wake, upk(tokens))
  if len > cap then redis.call('LTRIM', C.wake, 0, cap - 1) end
  -- tokens nobody waited for must not linger: the list lives 10 s from its creation
  if len == n then redis.call('PEXPIRE', C.wake, 10000) end
end

-- jobs are ready but no token announces them (the cap trimmed them, they expired, or a
-- claim promoted delayed jobs): leave one, so that a worker waiting on the list takes
-- the next job now, not at its next poll
local function announce()
  if redis.call('ZCARD', C.ready) > 0 and redis.call('EXISTS', C.wake) == 0 then wake(1) end
end

-- the ready-queue score: highest priority first, FIFO (by due time) within it
local function ready_score(prio, due) return num(-tonumber(prio) * 1e13 + due) end

local function with_error(errors, err)
  if not errors or errors == '' or errors == '[]' then return '[' .. err .. ']' end
  return string.sub(errors, 1, -2) .. ',' .. err .. ']'
end

-- end a run (finish, recovery, release): one HSET, index and counter moves, requeue or
-- retention. `v` is the job's FIELDS as read this call, patched to match what is written;
-- `set` holds extra field/value pairs for the same HSET
local function end_run(jk, v, new, delay, set)
  local id, acct = v[I_ID], v[I_ACCT]
  move(id, acct, v[I_TYPE], 'running', new)
  redis.call('ZREM', C.run, id)
  set[#set + 1] = 'status'
  set[#set + 1] = new
  v[I_STATUS], v[I_WORKER], v[I_LEASE] = new, false, false
  local drop = {'worker', 'lease'}
  if new == 'queued' or new == 'retrying' then
    local due = NOW + delay
    local due_s = num(due)
    set[#set + 1] = 'due'
    set[#set + 1] = due_s
    v[I_DUE] = due_s
    if due <= NOW then
      redis.call('ZADD', C.ready, ready_score(v[I_PRIO], due), id)
    else
      redis.call('ZADD', C.sched, due_s, id)
    end
    wake(1)
  else
    set[#set + 1] = 'finished'
    set[#set + 1] = NOW_S
    v[I_FINISHED] = NOW_S
    if v[I_CANCEL] then
      drop[#drop + 1] = 'cancel'
      v[I_CANCEL] = false
    end
    local dedup = v[I_DEDUP]
    if dedup and redis.call('HGET', C.dedup, dedup) == id then
      redis.call('HDEL', C.dedup, dedup)
    end
    redis.call('ZADD', C.exp, num(NOW + C.ret[new]), new .. '|' .. id .. '|' .. acct)
    -- purge() normally deletes the hash at the end of retention; the TTL is the safety net
    redis.call('PEXPIRE', jk, num(C.ret[new] + C.grace))
  end
  redis.call('HSET', jk, upk(set))
  redis.call('HDEL', jk, upk(drop))
end

-- the fenced finish of one run. Returns '1' (applied), '0' (stale: nothing written) or
-- 'dup' (this very call was applied before and its reply lost), and the job's values
local function finish(jk, attempt, status, result, err, delay, nonce)
  local v = redis.call('HMGET', jk, upk(FIELDS))
  if v[I_STATUS] ~= 'running' or v[I_ATT] ~= attempt then
    if redis.call('HGET', jk, 'fin') == nonce then return 'dup', v end
    return '0', v
  end
  local set = {'fin', nonce}
  if err ~= '' then
    local errors = with_error(v[I_ERRORS], err)
    set[3], set[4] = 'errors', errors
    v[I_ERRORS] = errors
  end
  if status == 'completed' then
    set[#set + 1] = 'result'
    set[#set + 1] = result
    v[I_RESULT] = result
  end
  end_run(jk, v, status, delay, set)
  return '1', v
end

-- FINISH's arguments from argv[i]: 'attempt|status|delay ms|nonce', then the result and
-- the error JSON
local function finish_args(argv, i)
  local attempt, status, delay, nonce = string.match(argv[i], '^(-?%d+)|(%l+)|(%d+)|(.+)$')
  if not nonce then error('threadjobs: malformed finish arguments') end
  return attempt, status, argv[i + 1], argv[i + 2], tonumber(delay), nonce
end

-- claim()'s arguments from argv[i]: 'limit|lease ms|promote limit|resend (0/1)|nonce|worker'
local function claim_args(argv, i)
  local limit, lease, promote, resend, nonce, worker =
    string.match(argv[i], '^(%d+)|(%d+)|(%d+)|([01])|([^|]*)|(.*)$')
  if not worker then error('threadjobs: malformed claim arguments') end
  return {worker = worker, limit = tonumber(limit), lease = tonumber(lease),
          promote = tonumber(promote), resend = resend == '1', nonce = nonce}
end

-- the jobs a claim with this nonce took, if it already ran: a resend after a lost reply
-- gets them back instead of taking more (they would sit unseen until their lease
-- lapsed). Reads every running job's nonce, so only resends ask (see the store).
local function claimed_before(a, out)
  local found = false
  for _, id in ipairs(redis.call('ZRANGE', C.run, 0, -1)) do
    local jk = PREFIX .. id
    if redis.call('HGET', jk, 'cn') == a.nonce then
      local v = redis.call('HMGET', jk, upk(FIELDS))
      if v[I_STATUS] == 'running' and v[I_WORKER] == a.worker then
        out[#out + 1] = v
        found = true
      end
    end
  end
  return found
end

-- promote due delayed jobs, take up to `a.limit` ready ones; appends their values to `out`
-- and sets out[2] to the ms until the next delayed job is due (-1: none) and out[5] to 1
-- if ready jobs are left. `a` is claim_args()'s table. Each job taken records the claim's
-- nonce (`cn`), so that a resend of this very call (`a.resend`) can find them again.
local function claim(a, out)
  local worker, limit, lease, promote_limit = a.worker, a.limit, a.lease, a.promote
  local nxt = redis.call('ZRANGE', C.sched, 0, 0, 'WITHSCORES')
  if nxt[2] and tonumber(nxt[2]) <= NOW then
    local due = redis.call('ZRANGEBYSCORE', C.sched, '-inf', NOW_S, 'LIMIT', 0, promote_limit)
    local add = {}
    for _, id in ipairs(due) do
      local f = redis.call('HMGET', PREFIX .. id, 'due', 'prio')
      if f[1] and f[2] then
        add[#add + 1] = ready_score(f[2], tonumber(f[1]))
        add[#add + 1] = id
      end
    end
    redis.call('ZREM', C.sched, upk(due))
    if #add > 0 then redis.call('ZADD', C.ready, upk(add)) end
    nxt = redis.call('ZRANGE', C.sched, 0, 0, 'WITHSCORES')
  end
  out[2] = nxt[2] and num(tonumber(nxt[2]) - NOW) or '-1'
  if limit <= 0 then return end
  if a.resend and claimed_before(a, out) then return end
  local popped = redis.call('ZPOPMIN', C.ready, limit)
  if #popped > 0 then
    if #popped == 2 * limit and redis.call('ZCARD', C.ready) > 0 then
      out[5] = 1 -- a backlog: the caller's next finish claims without waiting
      if redis.call('EXISTS', C.wake) == 0 then wake(1) end -- see announce()
    else
      -- this claim emptied the ready queue, so every wake-up token left stands for a job
      -- already taken: drop them, so idle workers do not wake for nothing. (A claim that
      -- found the queue empty skips this: it would cost an idle poll a command.)
      redis.call('DEL', C.wake)
    end
  end
  local until_ms = num(NOW + lease)
  local running = {}
  for i = 1, #popped, 2 do
    local id = popped[i]
    local jk = PREFIX .. id
    local v = redis.call('HMGET', jk, upk(FIELDS))
    local status = v[I_STATUS]
    if status == 'queued' or status == 'retrying' then
      move(id, v[I_ACCT], v[I_TYPE], status, 'running')
      local att = num(tonumber(v[I_ATT]) + 1)
      redis.call('HSET', jk, 'status', 'running', 'att', att, 'worker', worker,
                 'lease', until_ms, 'started', NOW_S, 'cn', a.nonce)
      if v[I_CANCEL] then
        redis.call('HDEL', jk, 'cancel')
        v[I_CANCEL] = false
      end
      v[I_STATUS], v[I_ATT], v[I_WORKER], v[I_LEASE], v[I_STARTED] =
        'running', att, worker, until_ms, NOW_S
      running[#running + 1] = until_ms
      running[#running + 1] = id
      out[#out + 1] = v
    end
  end
  if #running > 0 then redis.call('ZADD', C.run, upk(running)) end
end

-- ---------------------------------------------------------------------------------------
-- entries: each takes (KEYS, ARGV) as an FCALL callback does

-- ARGV after the common part: groups of 6 per job (id, type, account, params,
-- 'priority|max retries|timeout|delay ms', dedup key). Reply: only the jobs *not* created
-- from their own id, as pairs (job number from 0, id of the job holding its dedup key),
-- so that a batch of new jobs costs the client nothing to read
local function create(keys, argv)
  setup(keys, argv)
  local out = {}
  local created = 0
  local ready, sched = {}, {}
  local any, anyacct, queued, queuedacct = {}, {}, {}, {}
  local scores = {} -- ready score per priority, for jobs due now
  local n = 0
  for b = 1, #argv - 1, 6 do
    local id, jtype, acct, params = argv[b + 1], argv[b + 2], argv[b + 3], argv[b + 4]
    local prio, maxr, timeout, delay = string.match(argv[b + 5], '^(-?%d+)|(-?%d+)|([^|]*)|(%d+)$')
    if not delay then error('threadjobs: malformed job arguments for ' .. id) end
    delay = tonumber(delay)
    local dedup = argv[b + 6]
    local jk = PREFIX .. id
    local holder = false
    if dedup ~= '' then holder = redis.call('HGET', C.dedup, dedup) end
    if holder and holder ~= id then
      out[#out + 1] = n
      out[#out + 1] = holder
    elseif redis.call('EXISTS', jk) == 1 then
      -- the same create sent again (a retried round trip): it already happened
    else
      local due_s = NOW_S
      if delay > 0 then due_s = num(NOW + delay) end
      if dedup ~= '' then
        redis.call('HSET', jk, 'id', id, 'type', jtype, 'acct', acct, 'params', params,
                   'prio', prio, 'maxr', maxr, 'timeout', timeout, 'created', NOW_S,
                   'att', '0', 'recov', '0', 'status', 'queued', 'due', due_s, 'dedup', dedup)
        redis.call('HSET', C.dedup, dedup, id)
      else
        redis.call('HSET', jk, 'id', id, 'type', jtype, 'acct', acct, 'params', params,
                   'prio', prio, 'maxr', maxr, 'timeout', timeout, 'created', NOW_S,
                   'att', '0', 'recov', '0', 'status', 'queued', 'due', due_s)
      end
      -- index entries are collected and written with one ZADD per key below
      any[#any + 1] = 0
      any[#any + 1] = id
      queued[#queued + 1] = 0
      queued[#queued + 1] = id
      if acct ~= '' then
        local member = acct .. '|' .. id
        anyacct[#anyacct + 1] = 0
        anyacct[#anyacct + 1] = member
        queuedacct[#queuedacct + 1] = 0
        queuedacct[#queuedacct + 1] = member
      end
      count('queued', acct, 1)
      recent(acct, jtype, 'queued')
      if delay <= 0 then
        local score = scores[prio]
        if not score then
          score = ready_score(prio, NOW)
          scores[prio] = score
        end
        ready[#ready + 1] = score
        ready[#ready + 1] = id
      else
        sched[#sched + 1] = due_s
        sched[#sched + 1] = id
      end
      created = created + 1
    end
    n = n + 1
  end
  local any_pair, queued_pair = idx('any'), idx('queued')
  for _, kv in ipairs({{any_pair[1], any}, {any_pair[2], anyacct}, {queued_pair[1], queued},
                       {queued_pair[2], queuedacct}, {C.ready, ready}, {C.sched, sched}}) do
    if #kv[2] > 0 then redis.call('ZADD', kv[1], upk(kv[2])) end
  end
  flush()
  wake(created)
  return out
end

-- claim replies are one JSON array (cjson: C on both sides; parsing ~50 RESP elements in
-- Python per call cost more than the script): server ms, ms until the next delayed job
-- (-1: none), finish state, the finished job's values (or 0), 1 if ready jobs were left
-- behind (else 0), then each claimed job's
local function claim_entry(keys, argv)
  setup(keys, argv)
  local out = {NOW_S, '-1', '', 0, 0}
  claim(claim_args(argv, 2), out)
  flush()
  return cjson.encode(out)
end

-- KEYS[2]: the job hash. Reply: {'1', values as JSON} or {'0'} (stale: nothing written)
local function finish_entry(keys, argv)
  setup(keys, argv)
  local attempt, status, result, err, delay, nonce = finish_args(argv, 2)
  local state, v = finish(keys[2], attempt, status, result, err, delay, nonce)
  -- a worker may send BLPOP and CLAIM right behind a finish (see the store's
  -- finish_and_claim): with jobs ready, that wait must end at once
  announce()
  if state == '0' then return {'0'} end
  flush()
  return {'1', cjson.encode(v)}
end

-- FINISH's three ARGV, then CLAIM's one; KEYS[2]: the finished job's hash
local function finish_claim(keys, argv)
  setup(keys, argv)
  local attempt, status, result, err, delay, nonce = finish_args(argv, 2)
  local state, v = finish(keys[2], attempt, status, result, err, delay, nonce)
  local out = {NOW_S, '-1', state, 0, 0}
  if state ~= '0' then out[4] = v end
  claim(claim_args(argv, 5), out)
  flush()
  return cjson.encode(out)
end

-- KEYS[2]: the job hash. Reply: outcome, then the job's values (not for not_found)
local function cancel(keys, argv)
  setup(keys, argv)
  local jk = keys[2]
  local v = redis.call('HMGET', jk, upk(FIELDS))
  local status = v[I_STATUS]
  if not status then return {'not_found'} end
  if TERMINAL[status] then return {'already_finished', v} end
  if status == 'running' then
    redis.call('HSET', jk, 'cancel', '1')
    v[I_CANCEL] = '1'
    return {'requested', v}
  end
  local id, acct = v[I_ID], v[I_ACCT]
  redis.call('ZREM', C.ready, id)
  redis.call('ZREM', C.sched, id)
  move(id, acct, v[I_TYPE], status, 'cancelled')
  redis.call('HSET', jk, 'status', 'cancelled', 'finished', NOW_S)
  v[I_STATUS], v[I_FINISHED] = 'cancelled', NOW_S
  -- a job released at shutdown keeps a cancel flag set while it ran: it is moot now
  if v[I_CANCEL] then
    redis.call('HDEL', jk, 'cancel')
    v[I_CANCEL] = false
  end
  local dedup = v[I_DEDUP]
  if dedup and redis.call('HGET', C.dedup, dedup) == id then redis.call('HDEL', C.dedup, dedup) end
  redis.call('ZADD', C.exp, num(NOW + C.ret.cancelled), 'cancelled|' .. id .. '|' .. acct)
  redis.call('PEXPIRE', jk, num(C.ret.cancelled + C.grace))
  flush()
  return {'cancelled', v}
end

-- ARGV after the common part: max recoveries, batch limit, the lost-worker message (JSON).
-- Reply: the values of each job changed
local function recover(keys, argv)
  setup(keys, argv)
  local max_recoveries, limit, lost_message = tonumber(argv[2]), tonumber(argv[3]), argv[4]
  local out = {}
  local ids = redis.call('ZRANGEBYSCORE', C.run, '-inf', NOW_S, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local jk = PREFIX .. id
    local v = redis.call('HMGET', jk, upk(FIELDS))
    if v[I_STATUS] ~= 'running' then
      redis.call('ZREM', C.run, id) -- a stale entry; nothing to recover
    else
      if v[I_CANCEL] == '1' then
        end_run(jk, v, 'cancelled', 0, {})
      elseif tonumber(v[I_RECOV]) >= max_recoveries then
        local errors = with_error(v[I_ERRORS], '{"attempt":' .. v[I_ATT]
          .. ',"type":"threadjobs.LostWorker","message":' .. lost_message
          .. ',"traceback":"","at":' .. string.format('%.3f', NOW / 1000) .. '}')
        v[I_ERRORS] = errors
        end_run(jk, v, 'failed', 0, {'errors', errors})
      else
        local recov = num(tonumber(v[I_RECOV]) + 1)
        v[I_RECOV] = recov
        end_run(jk, v, 'queued', 0, {'recov', recov})
      end
      out[#out + 1] = v
    end
  end
  flush()
  return out
end

-- ARGV after the common part: batch limit. Reply: how many jobs were deleted
local function purge(keys, argv)
  setup(keys, argv)
  local limit = tonumber(argv[2])
  local removed = 0
  local gone = redis.call('ZRANGEBYSCORE', C.exp, '-inf', NOW_S, 'LIMIT', 0, limit)
  for _, m in ipairs(gone) do
    local status, id, acct = string.match(m, '^([^|]*)|([^|]*)|(.*)$')
    redis.call('ZREM', C.exp, m)
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
  local oldest = HOUR_NUM - 48
  local old = redis.call('ZRANGEBYSCORE', C.rhours, '-inf', '(' .. num(oldest), 'LIMIT', 0, limit)
  for _, field in ipairs(old) do
    redis.call('HDEL', C.recent, field)
    redis.call('ZREM', C.rfields, field)
    redis.call('ZREM', C.rhours, field)
  end
  return removed
end

-- the entries status-changing calls use, by the name the store knows them by
local ENTRIES = {
  CREATE = create, CLAIM = claim_entry, FINISH = finish_entry, FINISH_CLAIM = finish_claim,
  CANCEL = cancel, RECOVER = recover, PURGE = purge,
}
