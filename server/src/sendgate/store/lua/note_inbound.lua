-- note_inbound: a_writer wrote to k_account (a delivered message or an explicit
-- reply): opens the conversation and refunds this month's counted messages from the
-- account to the writer. Returns the refund.
if a_writer == '' then fail('empty writer') end
local now = now_ms(a_now)
local _, _, qkey = pick_month(now)
return note_inbound(string.sub(k_account, 1, -2), a_writer, now, qkey)
