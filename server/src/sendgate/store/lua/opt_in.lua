-- opt_in.lua: ARGV[2] opts in to (ARGV[3] = 1) or out of (0) the business of KEYS[1].
-- An opt-out takes effect at once: the next business-initiated message is NO_OPT_IN.
local user = ARGV[2]
if user == '' or (ARGV[3] ~= '0' and ARGV[3] ~= '1') then fail('bad user or opted_in') end
local optin = string.sub(KEYS[1], 1, -2) .. 'optin'
if ARGV[3] == '1' then
  redis.call('HSET', optin, user, 1)
else
  redis.call('HDEL', optin, user)
end
return 1
