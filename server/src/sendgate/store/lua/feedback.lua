-- feedback.lua: a block or spam report against the account of KEYS[1].
-- ARGV: 1 now, 2 reporter, 3 kind (1 block, 2 spam report), 4-19 business configuration.
-- Each reporter counts once per subject per day. Returns {quality, counted, events...}.
local acct = KEYS[1]
local base = string.sub(acct, 1, -2)
local reporter = ARGV[2]
local kind = int_arg(3, 'kind', 1)
if reporter == '' or kind > 2 then fail('bad reporter or kind') end
local now = now_ms(1)
local cfg = parse_biz(4)
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
