-- limits.lua - a header block over the milter's limits: COUNT headers
-- "X-Filler-N" of SIZE bytes each after the usual ones (from HDRS).
-- Variables: SOCKET, HDRS, BODY, IP, LABEL, COUNT, SIZE; EXPECT = reject |
-- tempfail | accept.  The refusal may come at any step up to EOM.
local okl, err = pcall(dofile, MT_LIB)
if not okl then
	print("error\tcannot load " .. tostring(MT_LIB) .. ": " .. tostring(err))
	os.exit(2)
end

L.main(function()
	local label = LABEL or "limits"
	local m = L.message()
	local size = tonumber(SIZE or "40")
	for i = 1, tonumber(COUNT or "0") do
		local v = string.format("%06d ", i) .. string.rep("x", size - 7)
		m.headers[#m.headers + 1] = { "X-Filler-" .. i, v }
	end
	local conn = L.connect()
	local rep, stage = L.send(conn, m)
	print("reply\t" .. L.letter(rep))
	local expect = EXPECT or "reject"
	if expect == "reject" then
		L.check(rep == SMFIR_REPLYCODE or rep == SMFIR_REJECT,
		    label .. ": refused (reply " .. L.letter(rep) .. " at " ..
		    stage .. ")")
	elseif expect == "tempfail" then
		L.check(rep == SMFIR_REPLYCODE or rep == SMFIR_TEMPFAIL,
		    label .. ": temporarily refused (reply " .. L.letter(rep) ..
		    " at " .. stage .. ")")
	else
		L.check(stage == "eom" and L.accepted(rep), label ..
		    ": accepted (reply " .. L.letter(rep) .. " at " .. stage .. ")")
	end
	mt.disconnect(conn)
end)
