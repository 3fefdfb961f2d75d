-- upsert_account.lua: create or update an account record (SendGateAdmin.UpsertAccount).
-- ARGV: 1 now, 2 kind (1/2), 3 business_verified, 4 identity_verified, 5 registered_at,
--   6 personal limit, 7 business limit, 8 username limit, 9-15 month table, 16-31 business
--   configuration. Returns biz.lua account_view.
local acct = KEYS[1]
local base = string.sub(acct, 1, -2)
local kind = int_arg(2, 'kind', 1)
if kind > 2 then fail('bad argument kind') end
local bv, iv = int_arg(3, 'business_verified'), int_arg(4, 'identity_verified')
local registered_at = int_arg(5, 'registered_at')
local limits = {int_arg(6, 'personal_limit'), int_arg(7, 'business_limit'),
                int_arg(8, 'username_limit')}
local now = now_ms(1)
local label, resets_at = pick_month(9, now)
local cfg = parse_biz(16)
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
return account_view(acct, base, now, cfg, rec, limits, label, resets_at, {}, events)
