-- review_state: k_account's review and its link causes (GetAccount).
-- Returns {under review 0/1, daily limit, causes...}.
local acct = k_account
now_ms(a_now)
local rv = review_fields(acct)
local limit = cfg.review_limit
if rv.lr then limit = 0 end
local out = {rv.under and 1 or 0, limit}
for _, c in ipairs(redis.call('SMEMBERS', string.sub(acct, 1, -2) .. 'lnk')) do
  out[#out + 1] = c
end
return out
