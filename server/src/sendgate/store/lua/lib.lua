-- lib.lua: helpers shared by every sendgate function. The library generator
-- (sendgate/store/library.py) puts the policy table `cfg` and the month table before
-- this file; everything here is defined once, at FUNCTION LOAD, not per call.
-- An account's keys are built from its base `sg:{acct}:` so they sit in one slot.

local DAY_MS = 86400000
local HOUR_MS = 3600000


-- A Redis error reply "ERR sendgate: <msg>"; raised before any write.
local function fail(msg)
  error({err = 'ERR sendgate: ' .. msg})
end

-- A non-negative integer argument, or fail naming it.
local function int_arg(v, name, min)
  local n = tonumber(v)
  if n == nil or n ~= math.floor(n) or n < (min or 0) then
    fail('bad argument ' .. name .. ': ' .. tostring(v))
  end
  return n
end

-- The client time when given (allow_client_time), otherwise Redis TIME: one clock.
local function now_ms(v)
  local t = int_arg(v, 'now', 0)
  if t > 0 then return t end
  local tm = redis.call('TIME')
  return tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
end

-- The month holding `now` (label YYYYMM) and the start of the next month, from the
-- built-in table MONTHS (starts of consecutive months from MONTH_Y0-01). The estimate
-- by the mean month length is off by at most one; the loops walk the rest.
local MONTH_MEAN_MS = 2629746000
-- The last month picked (a library-level upvalue, kept between calls): nearly every
-- call falls in it, so the search and the label's text are made once a month.
local m_lo, m_hi, m_label, m_key = 0, -1, 0, ''
local function pick_month(now)
  if now >= m_lo and now < m_hi then return m_label, m_hi, m_key end
  local n = #MONTHS
  local j = math.floor((now - MONTHS[1]) / MONTH_MEAN_MS) + 1
  if j < 1 then j = 1 end
  if j > n - 1 then j = n - 1 end
  while j > 1 and now < MONTHS[j] do j = j - 1 end
  while j < n - 1 and now >= MONTHS[j + 1] do j = j + 1 end
  if now < MONTHS[j] or now >= MONTHS[j + 1] then
    fail('time ' .. tostring(now) .. ' outside the month table')
  end
  local m = j - 1
  m_lo, m_hi = MONTHS[j], MONTHS[j + 1]
  m_label = (MONTH_Y0 + math.floor(m / 12)) * 100 + m % 12 + 1
  -- The month hash's suffix under an account's base.
  m_key = 'q:' .. string.format('%d', m_label)
  return m_label, m_hi, m_key
end

-- An approved exception in force at `now` (`rec` is biz.lua's record of the account,
-- read once per call).
local function exception_in_force(rec, now)
  return rec.extra ~= nil and rec.expires ~= nil and now < rec.expires
end

-- The monthly limit in force: by kind, plus an approved, unexpired exception.
local function monthly_limit(rec, now)
  local limit = cfg.personal
  if rec.kind == 2 then limit = cfg.business end
  if exception_in_force(rec, now) then limit = limit + rec.extra end
  return limit
end

-- Registered less than cfg.ramp_ms ago, with the ramp on (review.lua ramp_limit); such
-- an account has no past for the takeover feature to compare with (biz.lua).
local function young(rec, now)
  return cfg.ramp_on and rec.ra > 0 and now - rec.ra < cfg.ramp_ms
end

local function warning_of(used, limit)
  if used >= limit then return 2 end
  if used * 10000 >= limit * cfg.warn_bp then return 1 end
  return 0
end

-- `writer` wrote to the account at `now`: open the conversation and refund every
-- message the account sent `writer` this month that counted. Returns the refund.
-- Numbers go to Redis as text made with %d: Redis formats a Lua number argument with
-- %.17g, which costs more than a small command.
local CONV_TTL = '' .. cfg.conv_ms  -- (the string library is not there at load)
local function note_inbound(base, writer, now, qkey)
  local inbound = base .. 'in'
  -- Stale writers are dropped when a new one arrives: only then does the set grow.
  if redis.call('ZADD', inbound, string.format('%d', now), writer) == 1 then
    redis.call('ZREMRANGEBYSCORE', inbound, '-inf', '(' .. string.format('%d', now - cfg.conv_ms))
  end
  redis.call('PEXPIRE', inbound, CONV_TTL)
  local q = base .. qkey
  local rf, nf = 'r:' .. writer, 'n:' .. writer
  local rec = redis.call('HMGET', q, rf, nf)
  if not (rec[1] or rec[2]) then return 0 end
  local refund, uname = tonumber(rec[1]) or 0, tonumber(rec[2]) or 0
  if refund > 0 then redis.call('HINCRBY', q, 'u', -refund) end
  if uname > 0 then redis.call('HINCRBY', q, 'n', -uname) end
  redis.call('HDEL', q, rf, nf)
  return refund
end
