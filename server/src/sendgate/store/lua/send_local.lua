-- send_local: one round trip for a whole message where both accounts are on one
-- server (standalone Redis): decide on the sender (decide.lua), then, when the message
-- goes through, note it on the recipient exactly as note_inbound does.
local via, dry_run = check_message(a_now, a_recipient, a_message, a_via, a_dry_run)
if a_sender_id == '' then fail('empty sender') end
local s = sender_state(k_sender)
local now = now_ms(a_now)
local out, qkey, delivered = decide(s, now, a_recipient, a_message, via, dry_run)
finish(s)
if delivered then note_inbound(string.sub(k_recipient, 1, -2), a_sender_id, now, qkey) end
return out
