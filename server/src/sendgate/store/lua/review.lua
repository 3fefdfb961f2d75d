-- review.lua: daily limits of new conversations (accounts under review, SPEC §1.3, and
-- young accounts' ramp), between lib.lua and biz.lua (account_view reports them).
-- Account record fields: rr 1 = answered REVIEW at registration; lk 1 = linked to a
-- banned account (its `lnk` set is not empty); lc 1 = the link's review was cleared
-- (ClearReview); lr 1 = restricted to replies (linked_action = restrict); rc 1 = a
-- reviewer cleared the account (ClearReview): no ramp.
-- Under review, an account opens at most cfg.review_limit new conversations per UTC
-- day (none while restricted); a young account at most its ramp (ramp_limit). The
-- day's new recipients are the set rv:<day> (kept 2 days): writing twice to one person
-- that day counts once; replies never get here.

-- New accounts earn their allowance (the ramp): a personal account registered less
-- than cfg.ramp_ms ago opens at most ramp_base + ramp_per_day x (whole days of age) +
-- ramp_per_reply x (people who wrote to it) new conversations a UTC day, counted in the
-- same rv:<day> set. Accounts with no registration date (unknown to sendgate), a
-- reviewer's clearance (rc, ClearReview) or an approved exception in force are not
-- held to it. Returns the limit, or nil.
local function ramp_limit(base, now, rec)
  if rec.kind == 2 or rec.ramp_cleared or not young(rec, now) then return nil end
  if exception_in_force(rec, now) then return nil end
  local age = math.max(0, now - rec.ra)
  local writers = redis.call('ZCARD', base .. 'in')
  return cfg.ramp_base + cfg.ramp_per_day * math.floor(age / DAY_MS)
    + cfg.ramp_per_reply * writers
end

-- The new conversations a day `rec` may open, and the reason a denial gives
-- (8 UNDER_REVIEW, 9 NEW_ACCOUNT_LIMIT), or nil when no daily limit applies.
local function daily_limit(base, now, rec)
  local limit, why = nil, 0
  if rec.review then
    limit, why = cfg.review_limit, 8
    if rec.replies_only then limit = 0 end
  end
  local ramp = ramp_limit(base, now, rec)
  if ramp and (limit == nil or ramp < limit) then limit, why = ramp, 9 end
  return limit, why
end

-- The decision for a new conversation under a daily limit, and (allowed) the day's set
-- to note the recipient in: decision, reason, retry_after, day key, conversations
-- opened today (before this one).
local function daily_check(base, now, recipient, limit, why)
  local d = math.floor(now / DAY_MS)
  local day = base .. 'rv:' .. d
  local opened = redis.call('SCARD', day)
  if opened > 0 and redis.call('SISMEMBER', day, recipient) == 1 then
    return 1, 0, 0, nil, opened
  end
  if opened >= limit then
    return 2, why, (d + 1) * DAY_MS - now, nil, opened
  end
  return 1, 0, 0, day, opened
end

-- Conversations opened today under a daily limit (for Usage).
local function opened_today(base, now)
  return redis.call('SCARD', base .. 'rv:' .. math.floor(now / DAY_MS))
end

-- Usage's new_conversations_today and new_conversations_limit (-1: no daily limit).
local function daily_usage(base, now, rec)
  local limit = daily_limit(base, now, rec)
  if limit == nil then return 0, -1 end
  return opened_today(base, now), limit
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
