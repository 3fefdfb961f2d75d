-- exception_review.lua: approve (with an allowance and expiry) or reject a request.
-- KEYS[1] sgx:{exceptions}:pending. ARGV: 1 now, 2 request id, 3 approve 0/1,
--   4 extra allowance, 5 expires_at.
-- Reviewing again with the same verdict is a no-op (safe retries); a different verdict
-- on a reviewed request is refused. Returns {status, record...} with status
-- 'ok', 'same', 'not_found' or 'conflict'.
local pending = KEYS[1]
local base = string.sub(pending, 1, -8)
local now = now_ms(1)
local id = ARGV[2]
local approve = ARGV[3] == '1'
local extra, expires = int_arg(4, 'extra_allowance'), int_arg(5, 'expires_at')
local key = base .. 'r:' .. id
local state = tonumber(redis.call('HGET', key, 'state'))
if state == nil then return {'not_found'} end
local want = approve and 2 or 3
if state ~= 1 then
  local out = {state == want and 'same' or 'conflict'}
  for _, v in ipairs(redis.call('HGETALL', key)) do out[#out + 1] = v end
  return out
end
local account = redis.call('HGET', key, 'account')
redis.call('ZREM', base .. 's:1', id)
redis.call('HDEL', pending, account)
if approve then
  redis.call('HSET', key, 'state', 2, 'extra', extra, 'expires', expires, 'reviewed_at', now)
  redis.call('ZADD', base .. 's:2', expires, id)
else
  redis.call('HSET', key, 'state', 3, 'reviewed_at', now)
  redis.call('ZADD', base .. 's:3', now, id)
end
local out = {'ok'}
for _, v in ipairs(redis.call('HGETALL', key)) do out[#out + 1] = v end
return out
