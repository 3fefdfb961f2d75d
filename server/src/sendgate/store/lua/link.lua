-- link: the ban of a_cause reaches k_account, which shares a strong identifier with it.
-- The cause joins the account's `lnk` set; only a new cause changes anything, so a
-- retried ban links nobody twice. Then cfg.linked_action: 0 flag (LINKED_TO_BANNED,
-- under review), 1 restrict (replies only), 2 ban (reason 'linked to <cause>', and
-- `lb` = the cause, so that the cause's unban lifts this ban and no other).
-- Returns {newly linked 0/1, banned by this call 0/1}.
local acct = k_account
local lnk = string.sub(acct, 1, -2) .. 'lnk'
local now = now_ms(a_now)
if a_cause == '' then fail('empty cause') end
if redis.call('SADD', lnk, a_cause) == 0 then return {0, 0} end
-- A new cause puts the account under review again even if an earlier one was cleared.
redis.call('HSET', acct, 'lk', 1, 'lc', 0)
local banned = 0
if cfg.linked_action == 1 then
  redis.call('HSET', acct, 'lr', 1)
elseif cfg.linked_action == 2 and redis.call('HGET', acct, 'b') ~= '1' then
  redis.call('HSET', acct, 'b', 1, 'br', 'linked to ' .. a_cause, 'ba', now, 'lb', a_cause)
  banned = 1
end
return {1, banned}
