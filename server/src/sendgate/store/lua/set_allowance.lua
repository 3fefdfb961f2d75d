-- set_allowance.lua: an approved exception raises the monthly limit of KEYS[1] by
-- ARGV[1] messages until ARGV[2] (unix ms). A later approval replaces an earlier one.
local extra = int_arg(1, 'extra_allowance', 1)
local expires = int_arg(2, 'expires_at', 1)
redis.call('HSET', KEYS[1], 'xa', extra, 'xe', expires)
return 1
