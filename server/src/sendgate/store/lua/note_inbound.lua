-- note_inbound.lua: ARGV[2] wrote to the account of KEYS[1] (a delivered message or
-- an explicit reply): opens the conversation and refunds this month's counted
-- messages from the account to the writer.
-- ARGV: now, writer, window_ms, month table (4 starts, 3 labels). Returns the refund.
local writer = ARGV[2]
local window_ms = int_arg(3, 'window_ms', 1)
if writer == '' then fail('empty writer') end
local now = now_ms(1)
local label = pick_month(4, now)
return note_inbound(string.sub(KEYS[1], 1, -2), writer, now, window_ms, label)
