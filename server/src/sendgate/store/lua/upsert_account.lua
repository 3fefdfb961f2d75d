-- upsert_account: create or update an account record (SendGateAdmin.UpsertAccount).
-- Returns biz.lua account_view.
local acct = k_account
local base = string.sub(acct, 1, -2)
local kind = int_arg(a_kind, 'kind', 1)
if kind > 2 then fail('bad argument kind') end
local bv = int_arg(a_business_verified, 'business_verified')
local iv = int_arg(a_identity_verified, 'identity_verified')
local registered_at = int_arg(a_registered_at, 'registered_at')
local now = now_ms(a_now)
local label, resets_at = pick_month(now)
local before = record(acct)
redis.call('HSET', acct, 'k', kind, 'bv', bv, 'iv', iv)
if registered_at > 0 then redis.call('HSET', acct, 'ra', registered_at) end
local events = {}
if kind == 2 and before.kind ~= 2 then
  -- A new business starts at the first tier with HIGH quality.
  redis.call('HSET', acct, 'ti', 0, 'ql', Q_HIGH, 'fs', 0, 'ev', now)
  events[#events + 1] = {'tier_changed', 'from', -1, 'to', 0, 'cause', 'new_business'}
end
local rec = record(acct)
return account_view(acct, base, now, cfg, rec, label, resets_at, {}, events)
