-- review.lua: accounts under review (SPEC §1.3), between biz.lua and decide.lua.
-- Account record fields: rr 1 = answered REVIEW at registration; lk 1 = linked to a
-- banned account (its `lnk` set is not empty); lc 1 = the link's review was cleared
-- (ClearReview); lr 1 = restricted to replies (linked_action = restrict).
-- Under review, an account opens at most cfg.review_limit new conversations per UTC
-- day (none while restricted). The day's new recipients are the set rv:<day> (kept
-- 2 days): writing twice to one person that day counts once; replies never get here.

-- The decision for a new conversation of `rec` under review, and (allowed) the day's
-- set to note the recipient in: decision, reason, retry_after, day key.
local function review_check(base, now, recipient, rec)
  local d = math.floor(now / DAY_MS)
  local day = base .. 'rv:' .. d
  if redis.call('SISMEMBER', day, recipient) == 1 then return 1, 0, 0, nil end
  local limit = cfg.review_limit
  if rec.replies_only then limit = 0 end
  if redis.call('SCARD', day) >= limit then
    return 2, 8, (d + 1) * DAY_MS - now, nil
  end
  return 1, 0, 0, day
end

local function review_note(day, recipient)
  redis.call('SADD', day, recipient)
  redis.call('PEXPIRE', day, 2 * DAY_MS)
end

-- Is the account under review (the record's fields, read with HMGET)?
local function review_fields(acct)
  local r = redis.call('HMGET', acct, 'rr', 'lk', 'lc', 'lr', 'b', 'lb')
  return {
    rr = r[1] == '1', lk = r[2] == '1', lc = r[3] == '1', lr = r[4] == '1',
    banned = r[5] == '1', lb = r[6] or '',
    under = r[1] == '1' or (r[2] == '1' and r[3] ~= '1') or r[4] == '1',
  }
end
