-- exception_list.lua: requests in a state, or one account's requests.
-- KEYS[1] sgx:{exceptions}:pending. ARGV: 1 now, 2 state (1 pending, 2 approved,
--   3 rejected, 4 expired, 0 = by account), 3 max items, 4 account key part.
-- Approved requests whose expiry has passed are EXPIRED (index s:2 is scored by expiry).
-- Returns {id, nfields*2, field, value, ..., id, ...}.
local base = string.sub(KEYS[1], 1, -8)
local now = now_ms(1)
local state = int_arg(2, 'state')
local limit = int_arg(3, 'limit', 1)
local ids
if state == 0 then
  ids = redis.call('ZREVRANGE', base .. 'a:' .. ARGV[4], 0, limit - 1)
elseif state == 2 then
  ids = redis.call('ZRANGEBYSCORE', base .. 's:2', '(' .. now, '+inf', 'LIMIT', 0, limit)
elseif state == 4 then
  ids = redis.call('ZRANGEBYSCORE', base .. 's:2', '-inf', now, 'LIMIT', 0, limit)
else
  ids = redis.call('ZRANGE', base .. 's:' .. state, 0, limit - 1)
end
local out = {}
for _, id in ipairs(ids) do
  local rec = redis.call('HGETALL', base .. 'r:' .. id)
  out[#out + 1] = id
  out[#out + 1] = #rec
  for _, v in ipairs(rec) do out[#out + 1] = v end
end
return out
