-- clear_review: a reviewer ends k_account's review (ClearReview): the registration's
-- REVIEW and the link's review and restriction. The causes (`lnk`) stay, so
-- LINKED_TO_BANNED still shows and an unban still lifts it; a new cause starts a new
-- review. It also lifts the new-account ramp (rc). Returns {was under review 0/1}.
local acct = k_account
now_ms(a_now)
local rv = review_fields(acct)
redis.call('HSET', acct, 'rr', 0, 'lr', 0, 'rc', 1)
if rv.lk then redis.call('HSET', acct, 'lc', 1) end
if rv.under then return {1} end
return {0}
