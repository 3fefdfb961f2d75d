-- set_allowance: an approved exception raises the monthly limit of k_account by
-- a_extra messages until a_expires (unix ms). A later approval replaces an earlier one.
local extra = int_arg(a_extra, 'extra_allowance', 1)
local expires = int_arg(a_expires, 'expires_at', 1)
redis.call('HSET', k_account, 'xa', extra, 'xe', expires)
return 1
