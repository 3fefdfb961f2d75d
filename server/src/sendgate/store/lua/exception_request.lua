-- exception_request: an account asks for a message-limit exception.
-- k_pending is sgx:{exceptions}:pending (account -> its open request). All exception
-- keys share the {exceptions} tag: r:<id> record, s:<state> index, a:<account> history.
-- One open request per account: asking again returns the pending one.
-- Returns {request_id, state, created 0/1}.
local pending = k_pending
local base = string.sub(pending, 1, -8)
local now = now_ms(a_now)
local account, reason, note, id = a_account, int_arg(a_reason, 'reason', 1), a_note, a_request_id
if account == '' or id == '' then fail('empty account or id') end
local open = redis.call('HGET', pending, account)
if open then return {open, 1, 0} end
redis.call('HSET', base .. 'r:' .. id, 'account', account, 'reason', reason, 'note', note,
           'state', 1, 'requested_at', now)
redis.call('ZADD', base .. 's:1', now, id)
redis.call('HSET', pending, account, id)
redis.call('ZADD', base .. 'a:' .. a_account_part, now, id)
return {id, 1, 1}
