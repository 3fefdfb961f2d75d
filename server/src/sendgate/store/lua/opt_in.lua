-- opt_in: a_user opts in to (a_opted_in = 1) or out of (0) the business k_account.
-- An opt-out takes effect at once: the next business-initiated message is NO_OPT_IN.
local user = a_user
if user == '' or (a_opted_in ~= '0' and a_opted_in ~= '1') then
  fail('bad user or opted_in')
end
local optin = string.sub(k_account, 1, -2) .. 'optin'
if a_opted_in == '1' then
  redis.call('HSET', optin, user, 1)
else
  redis.call('HDEL', optin, user)
end
return 1
