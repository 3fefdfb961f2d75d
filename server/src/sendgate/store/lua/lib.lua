-- lib.lua: helpers shared by every sendgate script (the loader prepends this file).
-- KEYS[1] is always the account record `sg:{acct}:a`; the other keys of that
-- account are built from its base `sg:{acct}:` so every key sits in one slot.

local DAY_MS = 86400000

-- A string error (Redis 6.2 cannot raise a table): the reply reads
-- "ERR Error running script ...: sendgate: <msg>".
local function fail(msg)
  error('sendgate: ' .. msg)
end

-- A positive integer argument, or fail naming it (validated before any write).
local function int_arg(i, name, min)
  local v = tonumber(ARGV[i])
  if v == nil or v ~= math.floor(v) or v < (min or 0) then
    fail('bad argument ' .. name .. ': ' .. tostring(ARGV[i]))
  end
  return v
end

-- The client time when given (allow_client_time), otherwise Redis TIME: one clock.
local function now_ms(i)
  local t = int_arg(i, 'now', 0)
  if t > 0 then return t end
  local tm = redis.call('TIME')
  return tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
end

-- Month table at ARGV[i..i+6]: starts s0 < s1 < s2 < s3, labels l0, l1, l2.
-- Returns the label of the month holding `now` and the start of the next month.
local function pick_month(i, now)
  for k = 0, 2 do
    local s, e = tonumber(ARGV[i + k]), tonumber(ARGV[i + k + 1])
    if s == nil or e == nil then fail('bad month table') end
    if now >= s and now < e then return ARGV[i + 4 + k], e end
  end
  fail('time ' .. tostring(now) .. ' outside the month table (clock skew?)')
end

-- The monthly limit in force: by kind, plus an approved, unexpired exception
-- (`rec` is biz.lua's record of the account, read once per script).
local function monthly_limit(rec, now, personal, business)
  local limit = personal
  if rec.kind == 2 then limit = business end
  if rec.extra and rec.expires and now < rec.expires then limit = limit + rec.extra end
  return limit
end

local function warning(used, limit, warn_bp)
  if used >= limit then return 2 end
  if used * 10000 >= limit * warn_bp then return 1 end
  return 0
end

-- `writer` wrote to the account at `now`: open the conversation and refund every
-- message the account sent `writer` this month that counted. Returns the refund.
local function note_inbound(base, writer, now, window_ms, label)
  local inbound = base .. 'in'
  redis.call('ZADD', inbound, now, writer)
  redis.call('ZREMRANGEBYSCORE', inbound, '-inf', '(' .. string.format('%d', now - window_ms))
  redis.call('PEXPIRE', inbound, window_ms)
  local q = base .. 'q:' .. label
  local rec = redis.call('HMGET', q, 'r:' .. writer, 'n:' .. writer)
  local refund, uname = tonumber(rec[1]) or 0, tonumber(rec[2]) or 0
  if refund > 0 then redis.call('HINCRBY', q, 'u', -refund) end
  if uname > 0 then redis.call('HINCRBY', q, 'n', -uname) end
  if rec[1] or rec[2] then redis.call('HDEL', q, 'r:' .. writer, 'n:' .. writer) end
  return refund
end
