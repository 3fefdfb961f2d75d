-- decide.lua: the sender-side decision shared by can_send, send_local and send_group.
--
-- Idempotency record: `m:<bucket>` is a string of fixed-size records, one per decided
-- message: the message key (ID_LEN bytes of a hash of message_id, made by Python) and
-- one byte packing decision * 32 + reason * 2 + counted. A denial's retry_after, the
-- rare case, goes to the hash `mr:<bucket>`. Two buckets of cfg.idem_ms are read, so
-- a replay is answered for at least that long. ~ID_LEN + 1 bytes per message instead
-- of a hash entry of ~25 bytes that also turns into a hashtable above 128 entries.

local ID_LEN = cfg.id_len
local REC_LEN = ID_LEN + 1

-- The packed decision byte of `mid` in the record string `s`, or nil. A match must
-- start on a record boundary (a key's bytes may also appear across two records).
local function find_id(s, mid)
  if not s then return nil end
  local init = 1
  while true do
    local p = string.find(s, mid, init, true)
    if not p then return nil end
    if (p - 1) % REC_LEN == 0 then return string.byte(s, p + ID_LEN) end
    init = p + 1
  end
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
             scored = cfg.bulk_on and rec.kind ~= 2}
  -- Bulk detection covers personal accounts (businesses answer to tiers and quality).
  if s.scored then s.f = read_features(s.base) end
  return s
end

-- Writes the features the call's decisions changed.
local function finish(s)
  if s.scored then save_features(s.base, s.f) end
end

-- Decide one message of sender `s` at `now`. Returns the reply (layout DECISION, then
-- the events) and the month label.
local function decide(s, now, recipient, mid, via, dry_run)
  local acct, base, rec, f = s.acct, s.base, s.rec, s.f
  local label, resets_at = pick_month(now)
  local events = {}
  if rec.kind == 2 then evaluate(acct, base, now, cfg, rec, events, false) end
  local limit = monthly_limit(rec, now)
  if s.scored then
    rec.bulk = bulk_active(f, now, cfg)
    if rec.bulk and cfg.bulk_action == 1 then
      limit = math.floor(limit * cfg.throttle_bp / 10000)
    end
  end
  local q = base .. 'q:' .. label
  -- One read for the usage, the month's total and whether the recipient is new.
  local qv = redis.call('HMGET', q, 'u', 'n', 't', 'r:' .. recipient)
  local used, uused = tonumber(qv[1]) or 0, tonumber(qv[2]) or 0

  local function reply(decision, reason, counted, retry_after, duplicate)
    local username_used, username_limit, kind = uused, cfg.ulimit, rec.kind
    local warning = warning_of(used, limit)
    local tier_limit, unique_users_24h, quality, status, flags =
      business_usage(base, now, cfg, rec)
    local out = {@DECISION@}
    if #events == 0 then
      out[#out + 1] = 0
    else
      for _, v in ipairs(flat_events(events)) do out[#out + 1] = v end
    end
    return out
  end

  -- A replayed message_id answers with the original decision and counts nothing.
  local bucket = math.floor(now / cfg.idem_ms)
  local idem = base .. 'm:' .. bucket
  local held = redis.call('MGET', idem, base .. 'm:' .. (bucket - 1))
  local code, at = find_id(held[1], mid), bucket
  if not code then code, at = find_id(held[2], mid), bucket - 1 end
  if code then
    local d = math.floor(code / 32)
    local retry = 0
    if d == 2 then retry = tonumber(redis.call('HGET', base .. 'mr:' .. at, mid)) or 0 end
    return reply(d, math.floor(code % 32 / 2), code % 2, retry, 1), label
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
    -- `t`: messages delivered this month; with `u` it gives the share of messages to
    -- people who never replied (refunds lower `u` when they do).
    local q_total = tonumber(qv[3]) or 0
    local h = {}
    if decision == 1 then
      q_total = q_total + 1
      h[#h + 1] = 't'
      h[#h + 1] = q_total
    end
    if s.scored then
      -- Every attempt feeds the features; the score decides the next messages.
      update_features(f, now, not is_reply and not qv[4], cfg)
      local score = bulk_score(f, now, rec, used + counted, q_total, cfg)
      f.sc = score
      if score >= cfg.bulk_threshold and not rec.bulk then
        f.bs = now
        rec.bulk = true
        events[#events + 1] = {'flag_raised', 'flag', 'bulk_suspected',
                               'score', string.format('%.3f', score)}
      end
    end
    if counted == 1 then
      used = used + 1
      h[#h + 1] = 'u'
      h[#h + 1] = used
      h[#h + 1] = 'r:' .. recipient
      h[#h + 1] = (tonumber(qv[4]) or 0) + 1
      if via == 2 then
        uused = uused + 1
        h[#h + 1] = 'n'
        h[#h + 1] = uused
        redis.call('HINCRBY', q, 'n:' .. recipient, 1)
      end
    end
    -- One HSET for the month's counters instead of an HINCRBY per field.
    if #h > 0 then redis.call('HSET', q, unpack(h)) end
    if reason == 1 or reason == 2 then
      -- One limit_hit event per account, limit and month: no storms.
      if redis.call('HSETNX', q, 'h:' .. reason, 1) == 1 then
        local name = 'monthly_unreplied'
        if reason == 2 then name = 'username' end
        events[#events + 1] = {'limit_hit', 'limit', name}
      end
    end
    -- Kept a day past the month's end so a skewed clock still finds it; set once, when
    -- the month's hash is new (`t` unset). TTLs are relative to `now` so replays with
    -- client time expire like live traffic.
    if not qv[3] then redis.call('PEXPIRE', q, resets_at + DAY_MS - now) end
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
    -- and the string was read above anyway. Sets the TTL in the same command.
    redis.call('SET', idem, (held[1] or '') .. mid .. string.char(decision * 32 + reason * 2 + counted),
               'PX', (bucket + 2) * cfg.idem_ms - now)
    if retry_after > 0 then
      local mr = base .. 'mr:' .. bucket
      redis.call('HSET', mr, mid, retry_after)
      redis.call('PEXPIRE', mr, (bucket + 2) * cfg.idem_ms - now)
    end
  end
  return reply(decision, reason, counted, retry_after, 0), label
end
