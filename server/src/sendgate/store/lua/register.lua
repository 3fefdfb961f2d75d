-- register: a_account registered with the identifier of k_index (sgr:{kind:hmac}, a
-- zset account -> registration ms, in the identifier's own slot). Members older than
-- the retention are dropped on each write (cheap: the zset is ordered by time) and the
-- key expires one retention after its last registration. ZADD GT: a replay with an
-- older time never moves a registration back. Idempotent.
-- With a_count = 1 (a velocity kind) it returns how many OTHER accounts registered with
-- this identifier within cfg.velocity_ms before now (both ends included), counted
-- before the write in the same call, so concurrent registrations each see the others
-- that came first; the account itself never counts (a re-check is not a crowd).
-- a_count = 0: returns 0, nothing counted.
local now = now_ms(a_now)
if a_account == '' then fail('empty account') end
if a_count ~= '0' and a_count ~= '1' then fail('bad argument count: ' .. a_count) end
local seen = 0
if a_count == '1' then
  local lo = now - cfg.velocity_ms
  seen = redis.call('ZCOUNT', k_index, lo, now)
  local own = redis.call('ZSCORE', k_index, a_account)
  if own then
    own = tonumber(own)
    if own >= lo and own <= now then seen = seen - 1 end
  end
end
redis.call('ZADD', k_index, 'GT', now, a_account)
redis.call('ZREMRANGEBYSCORE', k_index, '-inf', '(' .. string.format('%d', now - cfg.reg_ms))
redis.call('PEXPIRE', k_index, cfg.reg_ms)
return seen
