-- unlink: the ban of a_cause was lifted: take it out of k_account's `lnk` set. With no
-- cause left, LINKED_TO_BANNED and the link's review and restriction go (a review from
-- the registration, rr, stays). A ban caused by this link (`lb` = a_cause) is lifted,
-- or, while another cause remains, attributed to that one (it would have banned too).
-- Returns {unlinked 0/1, no cause left 0/1, unbanned 0/1}.
local acct = k_account
local lnk = string.sub(acct, 1, -2) .. 'lnk'
now_ms(a_now)
if redis.call('SREM', lnk, a_cause) == 0 then return {0, 0, 0} end
local left = redis.call('SCARD', lnk)
local cleared, unbanned = 0, 0
if redis.call('HGET', acct, 'lb') == a_cause then
  if left == 0 then
    redis.call('HSET', acct, 'b', 0, 'br', '')
    redis.call('HDEL', acct, 'lb')
    unbanned = 1
  else
    local other = redis.call('SRANDMEMBER', lnk)
    redis.call('HSET', acct, 'lb', other, 'br', 'linked to ' .. other)
  end
end
if left == 0 then
  redis.call('HSET', acct, 'lk', 0, 'lc', 0, 'lr', 0)
  cleared = 1
end
return {1, cleared, unbanned}
