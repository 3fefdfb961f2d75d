-- send_local.lua: one round trip for a whole message where both accounts are on one
-- server (standalone Redis): decide on the sender (decide.lua), then, when the message
-- goes through, note it on the recipient exactly as note_inbound.lua does.
-- KEYS[1] sender record, KEYS[2] recipient record; ARGV as decide.lua, plus the
-- sender's account id as the last argument.
local out, now, label = decide()
if out[1] == 1 and ARGV[5] ~= '1' then
  local window_ms = int_arg(11, 'window_ms', 1)
  note_inbound(string.sub(KEYS[2], 1, -2), ARGV[#ARGV], now, window_ms, label)
end
return out
