-- link_sources: the identifier tokens a ban of k_account reaches, or that
-- ListLinkedAccounts looks up: its registration tokens still within the retention,
-- then its ban tokens. Returns {n registration tokens, tokens..., ban tokens...}.
local acct = k_account
local base = string.sub(acct, 1, -2)
local now = now_ms(a_now)
local out = {0}
local rid = redis.call('HGETALL', base .. 'rid')
for j = 1, #rid, 2 do
  if tonumber(rid[j + 1]) >= now - cfg.reg_ms then out[#out + 1] = rid[j] end
end
out[1] = #out - 1
for _, t in ipairs(redis.call('SMEMBERS', base .. 'ids')) do out[#out + 1] = t end
return out
