-- set_allowance: an approved exception raises the monthly limit of k_account by
-- a_extra messages until a_expires (unix ms). A later approval replaces an earlier one.
-- xr keeps its reason (ExceptionReason 1-4): while it holds, the bulk score relaxes the
-- features the exception explains (biz.lua bulk_score).
local extra = int_arg(a_extra, 'extra_allowance', 1)
local expires = int_arg(a_expires, 'expires_at', 1)
local reason = int_arg(a_reason, 'reason', 0)
if reason > 4 then fail('bad argument reason: ' .. a_reason) end
redis.call('HSET', k_account, 'xa', extra, 'xe', expires, 'xr', reason)
return 1
