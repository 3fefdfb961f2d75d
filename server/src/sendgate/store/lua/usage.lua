-- usage: an account's position (GetUsage, GetAccount, EvaluateTier; a_evaluate = 1
-- forces a tier evaluation). A business is re-evaluated when its last evaluation is
-- stale (or when forced). Returns biz.lua account_view.
local acct = k_account
local base = string.sub(acct, 1, -2)
local now = now_ms(a_now)
local label, resets_at = pick_month(now)
local force = a_evaluate == '1'
local rec = record(acct)
local events, reasons = {}, {}
if rec.kind == 2 then
  reasons = evaluate(acct, base, now, cfg, rec, events, force)
elseif force then
  reasons = {'personal accounts have no business tier'}
end
return account_view(acct, base, now, cfg, rec, label, resets_at, reasons, events)
