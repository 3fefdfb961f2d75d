-- register_account: the account's side of a registration: the keyed hashes of its
-- identifiers (the tokens after the fixed arguments) in its `rid` hash, token ->
-- registration ms, kept cfg.reg_ms (ForgetAccount erases them), and, when
-- CheckRegistration answered REVIEW (a_review = 1), the account is under review.
-- Returns {review newly started 0/1}. Idempotent (HSET).
local acct = k_account
local rid = string.sub(acct, 1, -2) .. 'rid'
local now = now_ms(a_now)
if a_review ~= '0' and a_review ~= '1' then fail('bad argument review: ' .. a_review) end
if #args >= tokens_from then
  local h = {}
  for i = tokens_from, #args do
    h[#h + 1] = args[i]
    h[#h + 1] = now
  end
  redis.call('HSET', rid, unpack(h))
  redis.call('PEXPIRE', rid, cfg.reg_ms)
end
if a_review == '1' and redis.call('HGET', acct, 'rr') ~= '1' then
  redis.call('HSET', acct, 'rr', 1)
  return {1}
end
return {0}
