-- can_send.lua: decide one message on the sender's slot and count it (decide.lua).
-- The recipient's side runs separately (note_inbound.lua): the Redis Cluster path.
local out = decide()
return out
