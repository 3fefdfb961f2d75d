-- exception_request.lua: an account asks for a message-limit exception.
-- KEYS[1] sgx:{exceptions}:pending (account -> its open request). All exception keys
-- share the {exceptions} tag: r:<id> record, s:<state> index, a:<account> history.
-- ARGV: 1 now, 2 account key part, 3 account, 4 reason, 5 note, 6 new request id.
-- One open request per account: asking again returns the pending one.
-- Returns {request_id, state, created 0/1}.
local pending = KEYS[1]
local base = string.sub(pending, 1, -8)
local now = now_ms(1)
local account, reason, note, id = ARGV[3], int_arg(4, 'reason', 1), ARGV[5], ARGV[6]
if account == '' or id == '' then fail('empty account or id') end
local open = redis.call('HGET', pending, account)
if open then return {open, 1, 0} end
redis.call('HSET', base .. 'r:' .. id, 'account', account, 'reason', reason, 'note', note,
           'state', 1, 'requested_at', now)
redis.call('ZADD', base .. 's:1', now, id)
redis.call('HSET', pending, account, id)
redis.call('ZADD', base .. 'a:' .. ARGV[2], now, id)
return {id, 1, 1}
