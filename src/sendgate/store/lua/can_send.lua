-- can_send.lua: decide one message on the sender's slot and count it.
-- KEYS[1] sender record. ARGV: see sendgate/store/scripts.py (CAN_SEND_ARGS).
-- Returns {decision, reason, counted, used, limit, resets_at, username_used,
--          username_limit, warning, retry_after_ms, duplicate, kind}.
local acct = KEYS[1]
local base = string.sub(acct, 1, -2)
local recipient = ARGV[2]
local mid = ARGV[3]
local via = int_arg(4, 'via', 1)
local dry_run = ARGV[5] == '1'
local enforce = ARGV[6] == '1'
local personal = int_arg(7, 'personal_limit')
local business = int_arg(8, 'business_limit')
local ulimit = int_arg(9, 'username_limit')
local warn_bp = int_arg(10, 'warn_bp')
local window_ms = int_arg(11, 'window_ms', 1)
local idem_ms = int_arg(12, 'idempotency_ms', 1)
if recipient == '' or mid == '' then fail('empty recipient or message id') end
local now = now_ms(1)
local label, resets_at = pick_month(13, now)

local kind, limit = account_limits(acct, now, personal, business)
local q = base .. 'q:' .. label
local rec = redis.call('HMGET', q, 'u', 'n')
local used, uused = tonumber(rec[1]) or 0, tonumber(rec[2]) or 0

-- A replayed message_id answers with the original decision and counts nothing.
local bucket = math.floor(now / idem_ms)
local idem = base .. 'm:' .. bucket
local prior = redis.call('HGET', idem, mid)
if not prior then prior = redis.call('HGET', base .. 'm:' .. (bucket - 1), mid) end
if prior then
  local d, r, c, ra = string.match(prior, '^(%d+),(%d+),(%d+),(%d+)$')
  return {tonumber(d), tonumber(r), tonumber(c), used, limit, resets_at, uused, ulimit,
          warning(used, limit, warn_bp), tonumber(ra), 1, kind}
end

local decision, reason, counted, retry_after = 1, 0, 0, 0
-- Replying is free: the recipient wrote to the sender within the window.
local last_in = tonumber(redis.call('ZSCORE', base .. 'in', recipient))
if not (last_in and last_in > now - window_ms) then
  if used >= limit then
    decision, reason, retry_after = 2, 1, resets_at - now
  elseif via == 2 and uused >= ulimit then
    decision, reason, retry_after = 2, 2, resets_at - now
  else
    counted = 1
  end
end
-- Shadow mode: report the rule, let the message through uncounted.
if decision == 2 and not enforce then decision, counted, retry_after = 1, 0, 0 end

if not dry_run then
  if counted == 1 then
    used = used + 1
    redis.call('HINCRBY', q, 'u', 1)
    redis.call('HINCRBY', q, 'r:' .. recipient, 1)
    if via == 2 then
      uused = uused + 1
      redis.call('HINCRBY', q, 'n', 1)
      redis.call('HINCRBY', q, 'n:' .. recipient, 1)
    end
    -- Kept a day past the month's end so a skewed clock still finds it. TTLs are
    -- relative to `now` so replays with client time expire like live traffic.
    redis.call('PEXPIRE', q, resets_at + DAY_MS - now)
  end
  redis.call('HSET', idem, mid, string.format('%d,%d,%d,%d', decision, reason, counted, retry_after))
  redis.call('PEXPIRE', idem, (bucket + 2) * idem_ms - now)
end
return {decision, reason, counted, used, limit, resets_at, uused, ulimit,
        warning(used, limit, warn_bp), retry_after, 0, kind}
