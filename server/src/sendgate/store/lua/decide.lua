-- decide.lua: the sender-side decision shared by can_send, send_local and send_group.
--
-- Idempotency record: `m` is one string holding the last two buckets of cfg.idem_ms:
-- a header (struct '<I4I4': the newer bucket b, then the byte length of bucket b-1's
-- records, which come first) and fixed-size records: the message key (ID_LEN bytes of
-- a hash of message_id, made by Python) and one byte packing decision * 32 +
-- reason * 2 + counted. Records of b-1 are dropped when b+1 starts, so a replay is
-- answered for at least cfg.idem_ms. A denial's retry_after, the rare case, goes to
-- the hash `mr:<bucket>`. One key instead of one per bucket: one GET, one key's
-- overhead, ~ID_LEN + 1 bytes per message.

local ID_LEN = cfg.id_len
local REC_LEN = ID_LEN + 1
local M_HDR = 8
local IDEM_MS = cfg.idem_ms

-- The packed decision byte of `mid` and its offset among the records of `s` from
-- offset `from` (a record boundary) to the end, or nil. A match must start on a record
-- boundary (a key's bytes may also appear across two records).
local function find_id(s, mid, from)
  local init, n = from, #s
  while init <= n do  -- bounded: init moves forward every turn
    local p = string.find(s, mid, init, true)
    if not p then return nil end
    if (p - from) % REC_LEN == 0 then return string.byte(s, p + ID_LEN), p end
    init = p + 1
  end
  return nil
end

-- Validate one message's arguments (before any write); returns via and dry_run.
local function check_message(now, recipient, mid, via, dry)
  int_arg(now, 'now')
  if recipient == '' then fail('empty recipient') end
  if #mid ~= ID_LEN then fail('bad message key') end
  local v = int_arg(via, 'via', 1)
  if v > 2 then fail('bad argument via: ' .. via) end
  if dry ~= '0' and dry ~= '1' then fail('bad argument dry_run: ' .. dry) end
  return v, dry == '1'
end

-- What the decisions of one call share about the sender: read once per call.
local function sender_state(acct)
  local rec = record(acct)
  local s = {acct = acct, base = string.sub(acct, 1, -2), rec = rec,
             scored = cfg.bulk_on and rec.kind ~= 2, dirty = false}
  -- Bulk detection covers personal accounts (businesses answer to tiers and quality).
  if s.scored then s.f = read_features(s.base) end
  return s
end

-- Writes the features when the call's decisions changed them (not for replays and
-- dry runs alone).
local function finish(s)
  if s.dirty then save_features(s.base, s.f) end
end

-- The reply: layout DECISION, then the events.
local function reply(s, now, resets_at, decision, reason, counted, retry_after, duplicate,
                     used, uused, limit, events, new_conversations_today,
                     new_conversations_limit)
  local rec = s.rec
  local username_used, username_limit, kind = uused, cfg.ulimit, rec.kind
  local warning = warning_of(used, limit)
  local tier_limit, unique_users_24h, quality, status, flags =
    business_usage(s.base, now, cfg, rec)
  local out = {@DECISION@}
  if events == nil or #events == 0 then
    out[#out + 1] = 0
  else
    for _, v in ipairs(flat_events(events)) do out[#out + 1] = v end
  end
  return out
end

-- Decide one message of sender `s` at `now`. Returns the reply (layout DECISION, then
-- the events), the month's key suffix and whether the message was delivered now (to
-- note on the recipient: not a dry run, a denial or a replay, whose original call
-- noted it).
local function decide(s, now, recipient, mid, via, dry_run)
  local acct, base, rec, f = s.acct, s.base, s.rec, s.f
  local _, resets_at, qkey = pick_month(now)
  local events = nil
  if rec.kind == 2 then
    events = {}
    evaluate(acct, base, now, cfg, rec, events, false)
  end
  local limit = monthly_limit(rec, now)
  if s.scored then
    rec.bulk = bulk_active(f, now, cfg)
    if rec.bulk and cfg.bulk_action == 1 then
      limit = math.floor(limit * cfg.throttle_bp / 10000)
    end
  end
  local q = base .. qkey
  local rfield = 'r:' .. recipient
  -- One read for the usage, the month's total and whether the recipient is new.
  local qv = redis.call('HMGET', q, 'u', 'n', 't', rfield)
  local used, uused = tonumber(qv[1]) or 0, tonumber(qv[2]) or 0

  -- A replayed message_id answers with the original decision and counts nothing.
  local bucket = math.floor(now / IDEM_MS)
  local idem = base .. 'm'
  local held = redis.call('GET', idem)
  local hb, split = 0, 0
  if held and #held >= M_HDR then hb, split = struct.unpack('<I4I4', held) else held = nil end
  local newer = M_HDR + 1 + split  -- first record of bucket hb
  if held and bucket <= hb + 1 then
    -- Bucket hb+1 sees only hb's records; hb (or an earlier client time) sees both.
    local code, p
    if bucket == hb + 1 then code, p = find_id(held, mid, newer)
    else code, p = find_id(held, mid, M_HDR + 1) end
    if code then
      local d = math.floor(code / 32)
      local retry = 0
      if d == 2 then
        local at = hb
        if p < newer then at = hb - 1 end
        retry = tonumber(redis.call('HGET', base .. 'mr:' .. string.format('%d', at), mid)) or 0
      end
      local opened, dl = daily_usage(base, now, rec)
      return reply(s, now, resets_at, d, math.floor(code % 32 / 2), code % 2, retry, 1, used, uused,
                   limit, events, opened, dl), qkey, false
    end
  end

  local decision, reason, counted, retry_after = 1, 0, 0, 0
  local new_conversation = false
  local last_in = tonumber(redis.call('ZSCORE', base .. 'in', recipient))
  -- Replying is free: the recipient wrote to the sender within the window.
  local is_reply = last_in ~= nil and last_in > now - cfg.conv_ms

  if rec.banned then
    decision, reason = 2, 5
  elseif rec.bulk and cfg.bulk_action == 2 and not is_reply then
    decision, reason = 2, 6
    retry_after = math.max(1, f.bs + cfg.bulk_period_ms - now)
  elseif rec.kind == 2 and not (last_in ~= nil and last_in > now - cfg.cs_ms) then
    -- Business-initiated (no open customer-service window): opt-in, then a tier slot.
    if redis.call('HGET', base .. 'optin', recipient) ~= '1' then
      decision, reason = 2, 4
    else
      local open = open_conversations(base, now)
      local tl = tier_limit(base, now, cfg, rec)
      if redis.call('ZSCORE', base .. 'bic', recipient) == false then
        if tl > 0 and open >= tl then
          local oldest = redis.call('ZRANGE', base .. 'bic', 0, 0, 'WITHSCORES')
          decision, reason = 2, 3
          retry_after = math.max(1, tonumber(oldest[2] or now) + DAY_MS - now)
        else
          new_conversation = true
        end
      end
    end
  end
  -- A daily limit of new conversations: under review, or a young account's ramp
  -- (review.lua). Replies and people already written to today are free.
  local review_day, opened = nil, 0
  local dlimit, why = daily_limit(base, now, rec)
  if dlimit then
    if decision == 1 and not is_reply then
      decision, reason, retry_after, review_day, opened =
        daily_check(base, now, recipient, dlimit, why)
    else
      opened = opened_today(base, now)
    end
  end
  if decision == 1 and not is_reply then
    if used >= limit then
      decision, reason, retry_after = 2, 1, resets_at - now
    elseif via == 2 and uused >= cfg.ulimit then
      decision, reason, retry_after = 2, 2, resets_at - now
    else
      counted = 1
    end
  end
  local rules_allow = decision == 1
  -- Shadow mode: report the rule, let the message through uncounted.
  if decision == 2 and not cfg.enforce then decision, counted, retry_after = 1, 0, 0 end

  if not dry_run then
    if review_day and rules_allow then
      review_note(review_day, recipient)
      opened = opened + 1
    end
    -- `t`: messages delivered this month; with `u` it gives the share of messages to
    -- people who never replied (refunds lower `u` when they do).
    local q_total = tonumber(qv[3]) or 0
    local h
    if decision == 1 then
      q_total = q_total + 1
      h = {'t', string.format('%d', q_total)}
    end
    if s.scored then
      -- Every attempt feeds the features; the score decides the next messages.
      update_features(f, now, not is_reply and not qv[4], cfg)
      s.dirty = true
      local score = bulk_score(f, now, rec, used + counted, q_total, cfg)
      f.sc = score
      if score >= cfg.bulk_threshold and not rec.bulk then
        f.bs = now
        rec.bulk = true
        events = events or {}
        events[#events + 1] = {'flag_raised', 'flag', 'bulk_suspected',
                               'score', string.format('%.3f', score)}
      end
    end
    if counted == 1 then
      used = used + 1
      h = h or {}
      h[#h + 1] = 'u'
      h[#h + 1] = string.format('%d', used)
      h[#h + 1] = rfield
      h[#h + 1] = string.format('%d', (tonumber(qv[4]) or 0) + 1)
      if via == 2 then
        uused = uused + 1
        h[#h + 1] = 'n'
        h[#h + 1] = string.format('%d', uused)
        redis.call('HINCRBY', q, 'n:' .. recipient, 1)
      end
    end
    -- One HSET for the month's counters instead of an HINCRBY per field.
    if h then redis.call('HSET', q, unpack(h)) end
    if reason == 1 or reason == 2 then
      -- One limit_hit event per account, limit and month: no storms.
      if redis.call('HSETNX', q, 'h:' .. reason, 1) == 1 then
        local name = 'monthly_unreplied'
        if reason == 2 then name = 'username' end
        events = events or {}
        events[#events + 1] = {'limit_hit', 'limit', name}
      end
    end
    -- Kept a day past the month's end so a skewed clock still finds it; set once, when
    -- the month's hash is new (`t` unset). TTLs are relative to `now` so replays with
    -- client time expire like live traffic.
    if not qv[3] then redis.call('PEXPIRE', q, string.format('%d', resets_at + DAY_MS - now)) end
    if new_conversation and rules_allow then
      local bic = base .. 'bic'
      redis.call('ZADD', bic, now, recipient)
      redis.call('PEXPIRE', bic, DAY_MS)
      local day = math.floor(now / DAY_MS)
      redis.call('PFADD', base .. 'u:' .. day, recipient)
      redis.call('PEXPIRE', base .. 'u:' .. day, 8 * DAY_MS)
      redis.call('HINCRBY', base .. 'st', 'c:' .. math.floor(now / HOUR_MS), 1)
      redis.call('PEXPIRE', base .. 'st', cfg.window_ms + DAY_MS)
      if rec.ql == Q_HIGH then
        redis.call('HINCRBY', base .. 'hq', day, 1)
        redis.call('PEXPIRE', base .. 'hq', 31 * DAY_MS)
      end
      if rec.rs then
        rec.rs = false
        redis.call('HSET', acct, 'rs', 0)
        events[#events + 1] = {'unrestricted'}
      end
    elseif reason == 3 and not rec.rs then
      rec.rs = true
      redis.call('HSET', acct, 'rs', 1)
      events[#events + 1] = {'restricted', 'limit', 'business_tier'}
    end
    -- SET of the whole string, not APPEND: APPEND preallocates up to twice the length,
    -- and the string was read above anyway. Sets the TTL in the same command. A new
    -- bucket drops the records of the one before the last.
    local rec_s = mid .. string.char(decision * 32 + reason * 2 + counted)
    local wb, value = bucket, nil
    if held and bucket <= hb then
      wb, value = hb, held .. rec_s
    elseif held and bucket == hb + 1 then
      value = struct.pack('<I4I4', bucket, #held - newer + 1) .. string.sub(held, newer) .. rec_s
    else
      value = struct.pack('<I4I4', bucket, 0) .. rec_s
    end
    local ttl = string.format('%d', (wb + 2) * IDEM_MS - now)
    redis.call('SET', idem, value, 'PX', ttl)
    if retry_after > 0 then
      local mr = base .. 'mr:' .. string.format('%d', wb)
      redis.call('HSET', mr, mid, string.format('%d', retry_after))
      redis.call('PEXPIRE', mr, ttl)
    end
  end
  return reply(s, now, resets_at, decision, reason, counted, retry_after, 0, used, uused, limit,
               events, opened, dlimit or -1), qkey, decision == 1 and not dry_run
end
