-- register: a_account registered with the identifier of k_index (sgr:{kind:hmac}, a
-- zset account -> registration ms, in the identifier's own slot). Members older than
-- the retention are dropped on each write (cheap: the zset is ordered by time) and the
-- key expires one retention after its last registration. ZADD GT: a replay with an
-- older time never moves a registration back. Idempotent.
local now = now_ms(a_now)
if a_account == '' then fail('empty account') end
redis.call('ZADD', k_index, 'GT', now, a_account)
redis.call('ZREMRANGEBYSCORE', k_index, '-inf', '(' .. string.format('%d', now - cfg.reg_ms))
redis.call('PEXPIRE', k_index, cfg.reg_ms)
return 1
