-- actions.lua - the milter's reply for one On-* condition.
-- Variables: SOCKET, HDRS, BODY, IP, LABEL; EXPECT = reject | tempfail |
-- quarantine | accept; REPLY_CODE, REPLY_ESC, REPLY_TEXT (optional: the
-- exact SMTP reply expected, checked with MT_SMTPREPLY).
local okl, err = pcall(dofile, MT_LIB)
if not okl then
	print("error\tcannot load " .. tostring(MT_LIB) .. ": " .. tostring(err))
	os.exit(2)
end

L.main(function()
	local label = LABEL or "action"
	local expect = EXPECT or "accept"
	local conn = L.connect()
	local rep, stage = L.send(conn, L.message())
	print("reply\t" .. L.letter(rep))
	local q = stage == "eom" and mt.eom_check(conn, MT_QUARANTINE)
	if expect == "reject" then
		L.check(rep == SMFIR_REPLYCODE or rep == SMFIR_REJECT,
		    label .. ": rejected (reply " .. L.letter(rep) .. ")")
	elseif expect == "tempfail" then
		L.check(rep == SMFIR_REPLYCODE or rep == SMFIR_TEMPFAIL,
		    label .. ": temporarily failed (reply " .. L.letter(rep) .. ")")
	elseif expect == "quarantine" then
		L.check(L.accepted(rep) and q, label ..
		    ": accepted and quarantined (reply " .. L.letter(rep) ..
		    ", MT_QUARANTINE " .. tostring(q) .. ")")
	else
		L.check(L.accepted(rep) and not q, label ..
		    ": accepted, not quarantined (reply " .. L.letter(rep) ..
		    ", MT_QUARANTINE " .. tostring(q) .. ")")
	end
	if REPLY_CODE ~= nil then
		L.check(mt.eom_check(conn, MT_SMTPREPLY, REPLY_CODE, REPLY_ESC,
		    REPLY_TEXT), label .. ": SMTP reply " .. REPLY_CODE .. " " ..
		    REPLY_ESC .. " " .. REPLY_TEXT)
	end
	if stage == "eom" then
		L.echo(conn)
	end
	mt.disconnect(conn)
end)
