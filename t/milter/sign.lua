-- sign.lua - a message the milter should (or should not) sign.
-- Variables: SOCKET, HDRS, BODY, IP, HOST, AUTH, DAEMON_NAME, LABEL;
-- EXPECT_SIGS (DKIM-Signature headers expected, default 1); SELECTORS
-- (comma list: the s= expected, one per signature, any order).
local okl, err = pcall(dofile, MT_LIB)
if not okl then
	print("error\tcannot load " .. tostring(MT_LIB) .. ": " .. tostring(err))
	os.exit(2)
end

L.main(function()
	local label = LABEL or "sign"
	local want = tonumber(EXPECT_SIGS or "1")
	local conn = L.connect()
	local rep, stage = L.send(conn, L.message())
	print("reply\t" .. L.letter(rep))
	L.check(stage == "eom" and L.accepted(rep),
	    label .. ": message accepted at end of message (reply " ..
	    L.letter(rep) .. " at " .. stage .. ")")
	local sigs = L.headers_of(conn, "DKIM-Signature")
	L.check(#sigs == want, label .. ": " .. want ..
	    " DKIM-Signature header(s) inserted (got " .. #sigs .. ")")
	if want > 0 then
		L.check(mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature"),
		    label .. ": with smfi_insheader (MT_HDRINSERT)")
		local at0 = #sigs > 0
		for _, v in ipairs(sigs) do
			if not mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature",
			    v, 0) then
				at0 = false
			end
		end
		L.check(at0, label .. ": every signature at index 0")
	else
		L.check(not mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature")
		    and not mt.eom_check(conn, MT_HDRADD, "DKIM-Signature"),
		    label .. ": no DKIM-Signature header added")
	end
	if SELECTORS ~= nil then
		for sel in SELECTORS:gmatch("[^,]+") do
			local found = false
			for _, v in ipairs(sigs) do
				local unfolded = v:gsub("[\r\n\t ]+", " ")
				if (";" .. unfolded):find("[; ]s=" .. sel .. ";") or
				    (";" .. unfolded):find("[; ]s=" .. sel .. "$") then
					found = true
				end
			end
			L.check(found, label .. ": a signature with s=" .. sel)
		end
	end
	L.echo(conn)
	mt.disconnect(conn)
end)
