-- biz.lua: business messaging helpers (tiers, quality, flags), prepended after lib.lua.
-- Account record fields (hash `a`): k kind (1 personal, 2 business), bv/iv verified,
-- ra registered_at, ti tier index, ql quality (1 HIGH, 2 MEDIUM, 3 LOW), fs flagged
-- since (ms, 0 = not flagged), ev last evaluation (ms), rs restricted (0/1),
-- xa/xe/xr exception allowance, expiry and reason, b banned (0/1).
-- Business keys: bic (zset: users of open business-initiated conversations, score =
-- opening time, pruned to 24 h), u:<day> (HyperLogLog: users reached that day, 8 days),
-- st (hash: c|b|s:<hour> conversations, blocks, spam reports, pruned to the window),
-- hq (hash: <day> -> conversations opened at HIGH quality, 30 days), optin (hash).

local Q_HIGH, Q_MEDIUM, Q_LOW = 1, 2, 3
local ST_CONNECTED, ST_FLAGGED, ST_RESTRICTED, ST_BANNED = 1, 2, 3, 4
local FLAG_QUALITY_LOW = 1

-- HGETALL, not HMGET of every field: most senders have no record (an empty reply) or
-- a few fields, and each value of a reply costs a Lua string.
local function record(acct)
  local raw = redis.call('HGETALL', acct)
  local r = {}
  for j = 1, #raw, 2 do r[raw[j]] = raw[j + 1] end
  return {
    kind = tonumber(r.k) or 1, bv = r.bv == '1', iv = r.iv == '1',
    ti = tonumber(r.ti) or 0, ql = tonumber(r.ql) or Q_HIGH, fs = tonumber(r.fs) or 0,
    ev = tonumber(r.ev) or 0, rs = r.rs == '1', banned = r.b == '1',
    ra = tonumber(r.ra) or 0, evasion = r.be == '1', bulk = false,
    extra = tonumber(r.xa), expires = tonumber(r.xe), xr = tonumber(r.xr) or 0,
    -- review.lua: rr REVIEW at registration, lk linked to a banned account, lc the link's
    -- review cleared, lr restricted to replies (linked_action = restrict).
    linked = r.lk == '1', replies_only = r.lr == '1', ramp_cleared = r.rc == '1',
    review = r.rr == '1' or (r.lk == '1' and r.lc ~= '1') or r.lr == '1',
  }
end

-- Weighted negative feedback per business-initiated conversation over the window;
-- drops stale hours. Returns quality and the rate in basis points.
local function quality_of(base, now, cfg)
  local stk = base .. 'st'
  local st = redis.call('HGETALL', stk)
  local cutoff = math.floor((now - cfg.window_ms) / HOUR_MS)
  local recent = math.floor((now - cfg.recent_ms) / HOUR_MS)
  local conv, neg, raw_neg, stale = 0, 0, 0, {}
  for j = 1, #st, 2 do
    local kind, hour = string.match(st[j], '^(%a):(%d+)$')
    hour = tonumber(hour)
    if hour == nil or hour < cutoff then
      stale[#stale + 1] = st[j]
    else
      local w = 1
      if hour >= recent then w = cfg.recent_weight end
      local v = tonumber(st[j + 1]) * w
      if kind == 'c' then
        conv = conv + v
      else
        neg = neg + v
        raw_neg = raw_neg + tonumber(st[j + 1])
      end
    end
  end
  if #stale > 0 then redis.call('HDEL', stk, unpack(stale)) end
  local rate_bp = math.floor(neg * 10000 / math.max(conv, cfg.min_sample))
  -- Too few reporters to judge: one angry user cannot flag a business.
  if raw_neg < cfg.min_feedback then return Q_HIGH, rate_bp, raw_neg end
  if rate_bp >= cfg.low_bp then return Q_LOW, rate_bp, raw_neg end
  if rate_bp >= cfg.medium_bp then return Q_MEDIUM, rate_bp, raw_neg end
  return Q_HIGH, rate_bp, raw_neg
end

-- Blocks and reports in the current and previous hour reach the surge threshold.
local function in_surge(base, now, cfg)
  local h = math.floor(now / HOUR_MS)
  local v = redis.call('HMGET', base .. 'st', 'b:' .. h, 's:' .. h, 'b:' .. (h - 1), 's:' .. (h - 1))
  local n = 0
  for j = 1, 4 do n = n + (tonumber(v[j]) or 0) end
  return n >= cfg.surge
end

-- The tier limit in force (0 = unlimited), lowered during a surge.
local function tier_limit(base, now, cfg, rec)
  local ti = math.min(rec.ti, #cfg.tiers - 1)
  local limit = cfg.tiers[ti + 1]
  if limit > 0 and in_surge(base, now, cfg) then
    limit = math.max(1, math.floor(limit * cfg.surge_bp / 10000))
  end
  return limit
end

-- Unique users of open business-initiated conversations (rolling 24 h), pruned.
local function open_conversations(base, now)
  local bic = base .. 'bic'
  redis.call('ZREMRANGEBYSCORE', bic, '-inf', string.format('%d', now - DAY_MS))
  return redis.call('ZCARD', bic)
end

local function unique_users_7d(base, now)
  local day = math.floor(now / DAY_MS)
  local ks = {}
  for d = day - 6, day do ks[#ks + 1] = base .. 'u:' .. d end
  return redis.call('PFCOUNT', unpack(ks))
end

local function high_quality_30d(base, now)
  local day = math.floor(now / DAY_MS)
  local h = redis.call('HGETALL', base .. 'hq')
  local total, stale = 0, {}
  for j = 1, #h, 2 do
    local d = tonumber(h[j])
    if d == nil or d <= day - 30 then stale[#stale + 1] = h[j] else total = total + tonumber(h[j + 1]) end
  end
  if #stale > 0 then redis.call('HDEL', base .. 'hq', unpack(stale)) end
  return total
end

local function status_of(rec, limit, open)
  if rec.banned then return ST_BANNED end
  if rec.kind == 2 and limit > 0 and open >= limit then return ST_RESTRICTED end
  if rec.kind == 2 and rec.ql == Q_LOW then return ST_FLAGGED end
  if rec.kind == 2 then return ST_CONNECTED end
  return 0
end

local function flag_bits(rec)
  local bits = 0
  if rec.kind == 2 and rec.ql == Q_LOW then bits = bits + FLAG_QUALITY_LOW end
  if rec.bulk then bits = bits + 2 end
  if rec.evasion then bits = bits + 4 end
  if rec.linked then bits = bits + 8 end
  if rec.review then bits = bits + 16 end
  return bits
end

-- Re-evaluate quality, flag, downgrades and upgrades; persists the result in `rec`.
-- Appends events to `events`; returns the reasons behind the tier decision.
local function evaluate(acct, base, now, cfg, rec, events, force)
  if not force and now - rec.ev < cfg.eval_ms then return {} end
  local q = quality_of(base, now, cfg)
  if q == Q_LOW and rec.ql ~= Q_LOW then
    rec.fs = now
    events[#events + 1] = {'flag_raised', 'flag', 'quality_low'}
  elseif q ~= Q_LOW and rec.ql == Q_LOW then
    rec.fs = 0
    events[#events + 1] = {'flag_cleared', 'flag', 'quality_low'}
  end
  rec.ql = q
  local reasons = {}
  -- Flagged continuously for a whole period: one tier down, and again each period.
  if q == Q_LOW and cfg.downgrade_ms > 0 and rec.fs > 0 and now - rec.fs >= cfg.downgrade_ms then
    local periods = math.floor((now - rec.fs) / cfg.downgrade_ms)
    rec.fs = rec.fs + periods * cfg.downgrade_ms
    local to = math.max(0, rec.ti - periods)
    if to ~= rec.ti then
      events[#events + 1] = {'tier_changed', 'from', rec.ti, 'to', to, 'cause', 'flagged'}
      rec.ti = to
    end
    reasons[#reasons + 1] = 'downgraded: flagged for ' .. periods .. ' period(s)'
  end
  local ti = math.min(rec.ti, #cfg.tiers - 1)
  local limit = cfg.tiers[ti + 1]
  local ok = true
  if rec.banned then ok = false; reasons[#reasons + 1] = 'banned' end
  if q == Q_LOW then ok = false; reasons[#reasons + 1] = 'status FLAGGED (quality LOW)' end
  if limit == 0 or ti + 1 >= #cfg.tiers then
    ok = false; reasons[#reasons + 1] = 'already at the top tier'
  end
  if ok then
    local need = math.ceil(limit * cfg.upgrade_bp / 10000)
    local u7 = unique_users_7d(base, now)
    if u7 < need then
      ok = false
      reasons[#reasons + 1] = 'unique users in 7 days ' .. u7 .. ' < ' .. need
    end
    if ti == 0 and not rec.bv then
      local hq = high_quality_30d(base, now)
      if hq < cfg.hq_needed then
        ok = false
        reasons[#reasons + 1] = 'leaving the first tier needs business verification or '
          .. cfg.hq_needed .. ' high-quality conversations in 30 days (have ' .. hq .. ')'
      end
    end
    if ti + 1 >= cfg.idv_from and not (rec.bv and rec.iv) then
      ok = false
      reasons[#reasons + 1] = 'tier ' .. (ti + 1) .. ' needs business and identity verification'
    end
  end
  if ok then
    events[#events + 1] = {'tier_changed', 'from', ti, 'to', ti + 1, 'cause', 'upgrade'}
    rec.ti = ti + 1
    reasons[#reasons + 1] = 'upgraded'
  end
  rec.ev = now
  redis.call('HSET', acct, 'ql', rec.ql, 'fs', rec.fs, 'ti', rec.ti, 'ev', now)
  return reasons
end

-- The business part of Usage: tier limit, unique users 24 h, quality, status, flags.
local function business_usage(base, now, cfg, rec)
  if rec.kind ~= 2 then return 0, 0, 0, status_of(rec, 0, 0), flag_bits(rec) end
  local limit = tier_limit(base, now, cfg, rec)
  local open = open_conversations(base, now)
  return limit, open, rec.ql, status_of(rec, limit, open), flag_bits(rec)
end

-- Flatten events for the reply: {n, type, nfields, k, v, ..., type, ...}.
local function flat_events(events)
  local out = {#events}
  for _, e in ipairs(events) do
    out[#out + 1] = e[1]
    out[#out + 1] = (#e - 1) / 2
    for j = 2, #e do out[#out + 1] = tostring(e[j]) end
  end
  return out
end

-- ------------------------------------------------------------------ bulk detection
-- Features (30 days) in two strings, one GET of both (MGET) and one SET each with its TTL.
--
-- The storage rule, for rolling updates (libraries of several versions call on one
-- account at once):
-- * `bf` is frozen: exactly F_SIZE (72) bytes in F_FMT, F_FIELDS order, forever. Every
--   library since issue 11 resets a `bf` of any other length, so nothing is ever added
--   to it and its fields keep their meaning: mb/mn new recipients in clock-minute bucket
--   mb, hb/hn in clock-hour bucket hb, ls last send, im/iv EWMA mean and variance of send
--   intervals, in their count, fb first burst time, neg unique reports (7 days), sc
--   score, bs flagged at.
-- * New fields live in `bx`: a version byte, then fields at fixed offsets. A version
--   only appends fields after the last one (X_FMT grows at its end, never reorders); a
--   library reads the prefix it knows, takes missing fields (an older writer) as
--   defaults, and writes back every byte past its own prefix unchanged, so a newer
--   library's fields survive an older one. Libraries before `bx` never touch it; what
--   they decide meanwhile is missing from bx's counters (a rollout's minutes), never
--   corrupting them: each bx counter names the bucket it belongs to and is checked
--   against bf's before use.
local F_FMT = '<i4I4i4I4dddI4dI4dd'
local F_FIELDS = {'mb', 'mn', 'hb', 'hn', 'ls', 'im', 'iv', 'in', 'fb', 'neg', 'sc', 'bs'}
local F_SIZE = 72
local F_TTL = '' .. 30 * DAY_MS
-- bx version 1: pmb/pm the previous minute bucket's new recipients, phb/ph the previous
-- hour's (sliding windows: two adjacent buckets weighted), db/dn new recipients on day
-- db (attempts), cn new conversations opened on day db (the ramp), bl EWMA baseline of
-- new recipients per day, bd days folded into it, then the ring: the times (s) of the
-- last RING new recipients, oldest first, 0 = empty (exact windows for small counts).
local RING = 32
local X_VERSION = 1
local X_FMT = '<Bi4I4i4I4i4I4I4dI4'
local X_HEAD = 41
local X_SIZE = X_HEAD + 4 * RING
local FEATURE_NAMES = {'new_recipients_per_minute', 'new_recipients_per_hour',
                       'unreplied_share', 'early_burst', 'negative_feedback', 'regularity',
                       'takeover'}
local NFEATURES = #FEATURE_NAMES

local function read_features(base)
  local v = redis.call('MGET', base .. 'bf', base .. 'bx')
  local s, x = v[1], v[2]
  local f
  if not s or #s ~= F_SIZE then
    f = {mb = 0, mn = 0, hb = 0, hn = 0, ls = 0, im = 0, iv = 0, ['in'] = 0, fb = 0,
         neg = 0, sc = 0, bs = 0}
  else
    local mb, mn, hb, hn, ls, im, iv, n, fb, neg, sc, bs = struct.unpack(F_FMT, s)
    f = {mb = mb, mn = mn, hb = hb, hn = hn, ls = ls, im = im, iv = iv, ['in'] = n,
         fb = fb, neg = neg, sc = sc, bs = bs}
  end
  if x and #x >= X_SIZE and string.byte(x, 1) >= X_VERSION then
    local _
    _, f.pmb, f.pm, f.phb, f.ph, f.db, f.dn, f.cn, f.bl, f.bd = struct.unpack(X_FMT, x)
    f.ring = string.sub(x, X_HEAD + 1, X_SIZE)
    f.tail = string.sub(x, X_SIZE + 1)  -- a newer version's fields: kept as they are
    f.xv = string.byte(x, 1)
  else
    f.pmb, f.pm, f.phb, f.ph, f.db, f.dn, f.cn, f.bl, f.bd = 0, 0, 0, 0, 0, 0, 0, 0, 0
    f.ring, f.tail, f.xv = string.rep('\0', 4 * RING), '', X_VERSION
  end
  return f
end

local function bulk_active(f, now, cfg)
  return f.bs > 0 and now - f.bs < cfg.bulk_period_ms
end

-- New recipients in the `width` ms before `now`: exact from the ring while it holds
-- them all, else the two adjacent buckets of width `width` weighted by the share of
-- the previous one still inside the window (the rate limiters' sliding window). `cur`
-- counts bucket `b`, `prev` bucket `pb` (bf's counters, which every library keeps).
local function window_count(f, now, width, b, cur, pb, prev)
  local bucket = math.floor(now / width)
  local cutoff, start = (now - width) / 1000, bucket * width / 1000
  local n, nb, full = 0, 0, true
  for j = RING, 1, -1 do  -- bounded: RING turns; newest last
    local t = struct.unpack('<I4', f.ring, 4 * j - 3)
    if t == 0 or t <= cutoff then full = false; break end
    n = n + 1
    if t >= start then nb = nb + 1 end
  end
  local c, p = 0, 0
  if b == bucket then
    c = cur
    if pb == bucket - 1 then p = prev end
  elseif b == bucket - 1 then
    p = cur
  end
  -- The ring saw every new recipient of this bucket (no older library or lost bx
  -- missed one) and did not overflow: the exact count.
  if not full and nb >= c then return n end
  return math.max(n, math.floor(c + p * (1 - (now - bucket * width) / width)))
end

local function per_minute(f, now)
  return window_count(f, now, 60000, f.mb, f.mn, f.pmb, f.pm)
end

local function per_hour(f, now)
  return window_count(f, now, HOUR_MS, f.hb, f.hn, f.phb, f.ph)
end

-- Days since the baseline's day: fold the finished day into the EWMA, and each silent
-- day after it as a zero (a baseline forgets an account that stopped).
local function roll_day(f, day, cfg)
  if f.db == day then return end
  if f.db > 0 and day > f.db then
    local a = cfg.baseline_alpha
    f.bl = f.bl + a * (f.dn - f.bl)
    local gap = math.min(day - f.db - 1, 400)
    if gap > 0 then f.bl = f.bl * (1 - a) ^ gap end
    f.bd = f.bd + day - f.db
  elseif f.db > 0 then
    return  -- an earlier client time: count it in the day held
  end
  f.db, f.dn, f.cn = day, 0, 0
end

-- One message attempt: new-recipient rates, first burst, send-interval regularity,
-- the day's count for the baseline.
local function update_features(f, now, new_recipient, cfg)
  local minute, hour = math.floor(now / 60000), math.floor(now / HOUR_MS)
  if f.mb ~= minute then
    -- The count of the bucket ending now becomes the previous one (bf's, whoever wrote it).
    f.pmb, f.pm = f.mb, f.mn
    f.mb, f.mn = minute, 0
  end
  if f.hb ~= hour then
    f.phb, f.ph = f.hb, f.hn
    f.hb, f.hn = hour, 0
  end
  roll_day(f, math.floor(now / DAY_MS), cfg)
  if new_recipient then
    f.mn, f.hn, f.dn = f.mn + 1, f.hn + 1, f.dn + 1
    f.ring = string.sub(f.ring, 5) .. struct.pack('<I4', math.floor(now / 1000))
    if f.fb == 0 and per_hour(f, now) >= cfg.burst then f.fb = now end
  end
  if f.ls > 0 and now >= f.ls then
    local d = now - f.ls
    f['in'] = f['in'] + 1
    local alpha = math.max(0.1, 1 / f['in'])
    local delta = d - f.im
    f.im = f.im + alpha * delta
    f.iv = (1 - alpha) * (f.iv + alpha * delta * delta)
  end
  f.ls = now
end

-- Features an approved exception explains: every exception reason (customers or
-- employees, new personal connections, a large event, reconnecting after a new phone)
-- is about writing to many new people soon, so the rates, the unreplied share, the
-- early burst and the takeover multiple do not count against the account while the
-- exception holds and its allowance is not spent. Spam reports and machine-regular
-- timing are not explained by any of them.
local RELAXED = {true, true, true, true, false, false, true}

local function exception_holds(rec, now, used)
  return rec.xr > 0 and exception_in_force(rec, now) and used <= cfg.personal + rec.extra
end

-- The feature vector (see FEATURE_NAMES, as measured: a reviewer sees them raw) and the
-- logistic score in [0, 1].
local function bulk_score(f, now, rec, used, total, cfg)
  local x = {0, 0, 0, 0, 0, 0, 0}
  x[1] = per_minute(f, now)
  x[2] = per_hour(f, now)
  if total >= cfg.min_messages then x[3] = used / total end
  if f.fb > 0 and rec.ra > 0 and f.fb - rec.ra < cfg.early_ms then x[4] = 1 end
  x[5] = f.neg
  if f['in'] >= 10 and f.im > 0 then x[6] = math.max(0, 1 - math.sqrt(f.iv) / f.im) end
  -- Today's new recipients against the account's own past (a hijack of an old account).
  -- A young account has no past to compare with: the ramp holds it instead.
  if f.db == math.floor(now / DAY_MS) and not young(rec, now) then
    x[7] = f.dn / math.max(f.bl, cfg.takeover_floor)
  end
  local z = cfg.bias
  local relaxed = exception_holds(rec, now, used)
  for j = 1, NFEATURES do
    if not (relaxed and RELAXED[j]) then z = z + cfg.weights[j] * x[j] end
  end
  return 1 / (1 + math.exp(-z)), x
end

-- One SET of each packed string, TTL in the same command. Counts are capped to their
-- field's width (far past any threshold).
local U32 = 4294967295
local I32 = 2147483647
local function save_features(base, f)
  redis.call('SET', base .. 'bf', struct.pack(F_FMT, f.mb, math.min(f.mn, U32), f.hb,
             math.min(f.hn, U32), f.ls, f.im, f.iv, math.min(f['in'], U32), f.fb,
             math.min(f.neg, U32), f.sc, f.bs), 'PX', F_TTL)
  redis.call('SET', base .. 'bx', struct.pack(X_FMT, f.xv, math.min(f.pmb, I32),
             math.min(f.pm, U32), math.min(f.phb, I32), math.min(f.ph, U32), f.db,
             math.min(f.dn, U32), math.min(f.cn, U32), f.bl, math.min(f.bd, U32))
             .. f.ring .. f.tail, 'PX', F_TTL)
end

-- Everything GetUsage/GetAccount/EvaluateTier report about an account:
-- {used, limit, resets_at, username_used, username_limit, kind, tier_limit,
--  unique_users_24h, quality, status, flag bits, business_verified, identity_verified,
--  registered_at, tier_index, nreasons, reasons..., events...}.
local function account_view(acct, base, now, cfg, rec, month_label, resets_at, reasons,
                            events)
  local f = read_features(base)
  rec.bulk = rec.kind ~= 2 and bulk_active(f, now, cfg)
  local limit = monthly_limit(rec, now)
  local qv = redis.call('HMGET', base .. 'q:' .. month_label, 'u', 'n', 't')
  local used, username_used = tonumber(qv[1]) or 0, tonumber(qv[2]) or 0
  local username_limit, kind = cfg.ulimit, rec.kind
  local tier_limit, unique_users_24h, quality, status, flags = business_usage(base, now, cfg, rec)
  local new_conversations_today, new_conversations_limit = daily_usage(base, now, rec)
  local out = {@USAGE@}
  out[#out + 1] = rec.bv and 1 or 0
  out[#out + 1] = rec.iv and 1 or 0
  out[#out + 1] = rec.ra
  out[#out + 1] = rec.ti
  out[#out + 1] = #reasons
  for _, r in ipairs(reasons) do out[#out + 1] = r end
  -- The bulk score and the features behind it, so a reviewer can see why.
  local total = tonumber(qv[3]) or 0
  -- As of the account's last message: what the decisions saw, not a decayed view.
  local at = now
  if f.ls > 0 then at = f.ls end
  local score, x = bulk_score(f, at, rec, out[1], total, cfg)
  out[#out + 1] = string.format('%.6f', score)
  out[#out + 1] = NFEATURES
  for j, name in ipairs(FEATURE_NAMES) do
    out[#out + 1] = name
    out[#out + 1] = string.format('%.6f', x[j])
  end
  out[#out + 1] = rec.banned and 1 or 0
  out[#out + 1] = redis.call('HGET', acct, 'br') or ''
  for _, v in ipairs(flat_events(events)) do out[#out + 1] = v end
  return out
end

