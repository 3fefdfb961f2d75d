-- ban: ban (a_banned = 1) or unban (0) the account k_account; the tokens (keyed
-- hashes of its identifiers, ban only) follow the fixed arguments.
-- The hashes are kept in the account's `ids` set so an unban can drop them from the
-- identifier index (sgi:{…}, other slots, updated by the caller).
-- Returns {changed 0/1, hashes...} (on unban, the hashes to drop from the index).
local acct = k_account
local ids = string.sub(acct, 1, -2) .. 'ids'
local now = now_ms(a_now)
local ban = a_banned == '1'
local was = redis.call('HGET', acct, 'b') == '1'
local out = {0}
if ban then
  -- A ban ends any review (review.lua fields), and a reviewer's ban of an account that a
  -- link had banned is the reviewer's own: the cause's unban no longer lifts it (`lb`).
  redis.call('HSET', acct, 'b', 1, 'br', a_reason, 'ba', now, 'rr', 0, 'lr', 0, 'lc', 1)
  redis.call('HDEL', acct, 'lb')
  for i = tokens_from, #args do redis.call('SADD', ids, args[i]) end
  if not was then out[1] = 1 end
  for _, h in ipairs(redis.call('SMEMBERS', ids)) do out[#out + 1] = h end
else
  redis.call('HSET', acct, 'b', 0, 'br', '')
  for _, h in ipairs(redis.call('SMEMBERS', ids)) do out[#out + 1] = h end
  redis.call('DEL', ids)
  if was then out[1] = 1 end
end
return out
