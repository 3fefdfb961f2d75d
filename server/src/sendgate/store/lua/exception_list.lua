-- exception_list: requests in a state, or one account's requests. k_pending is
-- sgx:{exceptions}:pending. a_state: 1 pending, 2 approved, 3 rejected, 4 expired,
-- 0 = by account (a_account_part). Read-only (`no-writes`).
-- Approved requests whose expiry has passed are EXPIRED (index s:2 is scored by expiry).
-- Returns {id, nfields*2, field, value, ..., id, ...}.
local base = string.sub(k_pending, 1, -8)
local now = now_ms(a_now)
local state = int_arg(a_state, 'state')
local limit = int_arg(a_limit, 'limit', 1)
local ids
if state == 0 then
  ids = redis.call('ZREVRANGE', base .. 'a:' .. a_account_part, 0, limit - 1)
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
