-- decide.lua: the sender-side decision shared by can_send.lua and send_local.lua.
-- KEYS[1] sender record. ARGV (sendgate/store/redis_store.py send_args):
--   1 now, 2 recipient, 3 message key, 4 via, 5 dry_run, 6 enforce, 7 personal limit,
--   8 business limit, 9 username limit, 10 warn bp, 11 conversation window ms,
--   12 idempotency bucket ms, 13-19 month table, 20-50 business and bulk configuration.
-- Returns the reply {decision, reason, counted, used, limit, resets_at, username_used,
--   username_limit, warning, retry_after_ms, duplicate, kind, tier_limit,
--   unique_users_24h, quality, status, flag bits, events...}, the decision time and
--   the month label.
local function decide()
  local acct = KEYS[1]
  local base = string.sub(acct, 1, -2)
  local recipient = ARGV[2]
  local mid = ARGV[3]
  local via = int_arg(4, 'via', 1)
  local dry_run = ARGV[5] == '1'
  local enforce = ARGV[6] == '1'
  local personal = int_arg(7, 'personal_limit')
  local business = int_arg(8, 'business_limit')
  local ulimit = int_arg(9, 'username_limit')
  local warn_bp = int_arg(10, 'warn_bp')
  local window_ms = int_arg(11, 'window_ms', 1)
  local idem_ms = int_arg(12, 'idempotency_ms', 1)
  if recipient == '' or mid == '' then fail('empty recipient or message id') end
  local now = now_ms(1)
  local label, resets_at = pick_month(13, now)
  local cfg = parse_biz(20)

  local rec = record(acct)
  local events = {}
  if rec.kind == 2 then evaluate(acct, base, now, cfg, rec, events, false) end
  local limit = monthly_limit(rec, now, personal, business)
  -- Bulk detection covers personal accounts (businesses answer to tiers and quality).
  local scored = cfg.bulk_on and rec.kind ~= 2
  local f
  if scored then
    f = read_features(base)
    rec.bulk = bulk_active(f, now, cfg)
    if rec.bulk and cfg.bulk_action == 1 then
      limit = math.floor(limit * cfg.throttle_bp / 10000)
    end
  end
  local q = base .. 'q:' .. label
  local qv = redis.call('HMGET', q, 'u', 'n')
  local used, uused = tonumber(qv[1]) or 0, tonumber(qv[2]) or 0

  local function reply(d, r, c, retry, dup)
    local out = {d, r, c, used, limit, resets_at, uused, ulimit, warning(used, limit, warn_bp),
                 retry, dup, rec.kind}
    for _, v in ipairs(business_usage(base, now, cfg, rec)) do out[#out + 1] = v end
    for _, v in ipairs(flat_events(events)) do out[#out + 1] = v end
    return out
  end

  -- A replayed message_id answers with the original decision and counts nothing.
  local bucket = math.floor(now / idem_ms)
  local idem = base .. 'm:' .. bucket
  local prior = redis.call('HGET', idem, mid)
  if not prior then prior = redis.call('HGET', base .. 'm:' .. (bucket - 1), mid) end
  if prior then
    local d, r, c, ra = string.match(prior, '^(%d+),(%d+),(%d+),(%d+)$')
    return reply(tonumber(d), tonumber(r), tonumber(c), tonumber(ra), 1), now, label
  end

  local decision, reason, counted, retry_after = 1, 0, 0, 0
  local new_conversation = false
  local last_in = tonumber(redis.call('ZSCORE', base .. 'in', recipient))
  -- Replying is free: the recipient wrote to the sender within the window.
  local is_reply = last_in ~= nil and last_in > now - window_ms

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
    elseif via == 2 and uused >= ulimit then
      decision, reason, retry_after = 2, 2, resets_at - now
    else
      counted = 1
    end
  end
  local rules_allow = decision == 1
  -- Shadow mode: report the rule, let the message through uncounted.
  if decision == 2 and not enforce then decision, counted, retry_after = 1, 0, 0 end

  if not dry_run then
    -- `t`: messages delivered this month; with `u` it gives the share of messages to
    -- people who never replied (refunds lower `u` when they do).
    local q_total
    if decision == 1 then
      q_total = redis.call('HINCRBY', q, 't', 1)
    else
      q_total = tonumber(redis.call('HGET', q, 't')) or 0
    end
    if scored then
      -- Every attempt feeds the features; the score decides the next messages.
      local new_recipient = not is_reply and redis.call('HEXISTS', q, 'r:' .. recipient) == 0
      update_features(f, now, new_recipient, cfg)
      local score = bulk_score(f, now, rec, used + counted, q_total, cfg)
      f.sc = score
      if score >= cfg.bulk_threshold and not rec.bulk then
        f.bs = now
        rec.bulk = true
        events[#events + 1] = {'flag_raised', 'flag', 'bulk_suspected',
                               'score', string.format('%.3f', score)}
      end
      save_features(base, f)
    end
    if counted == 1 then
      used = used + 1
      redis.call('HINCRBY', q, 'u', 1)
      redis.call('HINCRBY', q, 'r:' .. recipient, 1)
      if via == 2 then
        uused = uused + 1
        redis.call('HINCRBY', q, 'n', 1)
        redis.call('HINCRBY', q, 'n:' .. recipient, 1)
      end
    end
    if reason == 1 or reason == 2 then
      -- One limit_hit event per account, limit and month: no storms.
      if redis.call('HSETNX', q, 'h:' .. reason, 1) == 1 then
        local name = 'monthly_unreplied'
        if reason == 2 then name = 'username' end
        events[#events + 1] = {'limit_hit', 'limit', name}
      end
    end
    -- Kept a day past the month's end so a skewed clock still finds it. TTLs are
    -- relative to `now` so replays with client time expire like live traffic.
    redis.call('PEXPIRE', q, resets_at + DAY_MS - now)
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
    redis.call('HSET', idem, mid, string.format('%d,%d,%d,%d', decision, reason, counted, retry_after))
    redis.call('PEXPIRE', idem, (bucket + 2) * idem_ms - now)
  end
  return reply(decision, reason, counted, retry_after, 0), now, label
end
