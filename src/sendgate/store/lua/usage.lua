-- usage.lua: read an account's monthly position; writes nothing.
-- ARGV: now, personal_limit, business_limit, username_limit, month table.
-- Returns {used, limit, resets_at, username_used, username_limit, kind}.
local acct = KEYS[1]
local personal = int_arg(2, 'personal_limit')
local business = int_arg(3, 'business_limit')
local ulimit = int_arg(4, 'username_limit')
local now = now_ms(1)
local label, resets_at = pick_month(5, now)
local kind, limit = account_limits(acct, now, personal, business)
local rec = redis.call('HMGET', string.sub(acct, 1, -2) .. 'q:' .. label, 'u', 'n')
return {tonumber(rec[1]) or 0, limit, resets_at, tonumber(rec[2]) or 0, ulimit, kind}
