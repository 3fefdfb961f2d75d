-- forget: erase k_account's registration identifiers (ForgetAccount): its `rid` hash.
-- Returns the tokens, for the caller to take the account out of each identifier's
-- index (other slots). A ban's tokens (`ids`) stay while the ban does.
local acct = k_account
now_ms(a_now)
local rid = string.sub(acct, 1, -2) .. 'rid'
local tokens = redis.call('HKEYS', rid)
redis.call('DEL', rid)
return tokens
