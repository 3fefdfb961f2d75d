-- can_send: decide one message on the sender's slot and count it (decide.lua).
-- The recipient's side runs separately (note_inbound): the Redis Cluster path.
local via, dry_run = check_message(a_now, a_recipient, a_message, a_via, a_dry_run)
local s = sender_state(k_sender)
local out = decide(s, now_ms(a_now), a_recipient, a_message, via, dry_run)
finish(s)
return out
