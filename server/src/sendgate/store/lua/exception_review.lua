-- exception_review: approve (with an allowance and expiry) or reject a request.
-- Reviewing again with the same verdict is a no-op (safe retries); a different verdict
-- on a reviewed request is refused. Returns {status, record...} with status
-- 'ok', 'same', 'not_found' or 'conflict'.
local pending = k_pending
local base = string.sub(pending, 1, -8)
local now = now_ms(a_now)
local id = a_request_id
local approve = a_approve == '1'
local extra, expires = int_arg(a_extra, 'extra_allowance'), int_arg(a_expires, 'expires_at')
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
