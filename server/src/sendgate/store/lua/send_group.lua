-- send_group: one sender's messages of a CanSendBatch, decided in request order in
-- one call (the record and the bulk features are read and written once). With
-- a_local = 1 (standalone Redis) keys after the sender are each message's recipient,
-- noted as send_local does. Every message is validated before the first write.
-- Returns the decisions one after another (each: layout DECISION, then its events).
local n = (#args - messages_from + 1) / messages_width
local is_local = a_local == '1'
if a_local ~= '0' and not is_local then fail('bad argument local') end
if is_local and (#keys ~= n + 1 or a_sender_id == '') then
  fail('send_group local takes one recipient key per message and the sender')
end
local vias, drys = {}, {}
for j = 0, n - 1 do
  local o = messages_from + j * messages_width
  vias[j], drys[j] = check_message(args[o + i_now], args[o + i_recipient],
                                   args[o + i_message], args[o + i_via], args[o + i_dry_run])
end
local s = sender_state(k_sender)
local out, clock = {}, nil
for j = 0, n - 1 do
  local o = messages_from + j * messages_width
  local now = tonumber(args[o + i_now])
  if now == 0 then
    clock = clock or now_ms('0')  -- one Redis TIME per call
    now = clock
  end
  local d, qkey, delivered = decide(s, now, args[o + i_recipient], args[o + i_message],
                                   vias[j], drys[j])
  if is_local and delivered then
    note_inbound(string.sub(keys[j + 2], 1, -2), a_sender_id, now, qkey)
  end
  for _, v in ipairs(d) do out[#out + 1] = v end
end
finish(s)
return out
