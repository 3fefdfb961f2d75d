-- feedback: a block or spam report (a_kind 1 block, 2 spam report) by a_reporter
-- against k_account. Each reporter counts once per subject per day.
-- Returns {quality, counted, events...}.
local acct = k_account
local base = string.sub(acct, 1, -2)
local reporter = a_reporter
local kind = int_arg(a_kind, 'kind', 1)
if reporter == '' or kind > 2 then fail('bad reporter or kind') end
local now = now_ms(a_now)
local day = math.floor(now / DAY_MS)
local seen = base .. 'fb:' .. day
local counted = redis.call('SADD', seen, reporter)
redis.call('PEXPIRE', seen, 2 * DAY_MS)
if counted == 1 then
  local field = (kind == 1 and 'b:' or 's:') .. math.floor(now / HOUR_MS)
  redis.call('HINCRBY', base .. 'st', field, 1)
  redis.call('PEXPIRE', base .. 'st', cfg.window_ms + DAY_MS)
end
local rec = record(acct)
local events = {}
local quality
if rec.kind == 2 then
  evaluate(acct, base, now, cfg, rec, events, true)
  quality = rec.ql
else
  -- Personal accounts: the rating is computed, not stored (no record for strangers);
  -- the count of reports feeds bulk detection.
  local q, _, neg = quality_of(base, now, cfg)
  quality = q
  if cfg.bulk_on then
    local f = read_features(base)
    f.neg = neg
    save_features(base, f)
  end
end
local out = {quality, counted}
for _, v in ipairs(flat_events(events)) do out[#out + 1] = v end
return out
