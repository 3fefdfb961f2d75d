-- ban.lua: ban (ARGV[2] = 1) or unban (0) the account of KEYS[1].
-- ARGV: 1 now, 2 banned, 3 reason, 4.. keyed hashes of its identifiers (ban only).
-- The hashes are kept in the account's `ids` set so an unban can drop them from the
-- identifier index (sgi:{…}, other slots, updated by the caller).
-- Returns {changed 0/1, hashes...} (on unban, the hashes to drop from the index).
local acct = KEYS[1]
local ids = string.sub(acct, 1, -2) .. 'ids'
local now = now_ms(1)
local ban = ARGV[2] == '1'
local was = redis.call('HGET', acct, 'b') == '1'
local out = {0}
if ban then
  redis.call('HSET', acct, 'b', 1, 'br', ARGV[3], 'ba', now)
  for i = 4, #ARGV do redis.call('SADD', ids, ARGV[i]) end
  if not was then out[1] = 1 end
  for _, h in ipairs(redis.call('SMEMBERS', ids)) do out[#out + 1] = h end
else
  redis.call('HSET', acct, 'b', 0, 'br', '')
  for _, h in ipairs(redis.call('SMEMBERS', ids)) do out[#out + 1] = h end
  redis.call('DEL', ids)
  if was then out[1] = 1 end
end
return out
