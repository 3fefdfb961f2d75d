-- usage.lua: an account's position (GetUsage, GetAccount, EvaluateTier).
-- ARGV: 1 now, 2 personal limit, 3 business limit, 4 username limit, 5-11 month table,
--   12 force evaluation (EvaluateTier) 0/1, 13- business configuration.
-- A business is re-evaluated when its last evaluation is stale (or when forced).
-- Returns biz.lua account_view.
local acct = KEYS[1]
local base = string.sub(acct, 1, -2)
local limits = {int_arg(2, 'personal_limit'), int_arg(3, 'business_limit'),
                int_arg(4, 'username_limit')}
local now = now_ms(1)
local label, resets_at = pick_month(5, now)
local force = ARGV[12] == '1'
local cfg = parse_biz(13)
local rec = record(acct)
local events, reasons = {}, {}
if rec.kind == 2 then
  reasons = evaluate(acct, base, now, cfg, rec, events, force)
elseif force then
  reasons = {'personal accounts have no business tier'}
end
return account_view(acct, base, now, cfg, rec, limits, label, resets_at, reasons, events)
