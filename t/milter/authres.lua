-- authres.lua - inbound Authentication-Results headers: those claiming
-- our authserv-id are deleted (SMFIR_CHGHEADER with an empty value, by
-- their 1-based index among the Authentication-Results headers), others
-- are kept.
-- Variables: SOCKET, HDRS, BODY, IP, LABEL; DELETE (comma list of the
-- indexes expected deleted, "" for none); KEEP (comma list of indexes
-- that must not be deleted).
local okl, err = pcall(dofile, MT_LIB)
if not okl then
	print("error\tcannot load " .. tostring(MT_LIB) .. ": " .. tostring(err))
	os.exit(2)
end

L.main(function()
	local label = LABEL or "authres"
	local conn = L.connect()
	local rep, stage = L.send(conn, L.message())
	print("reply\t" .. L.letter(rep))
	L.check(stage == "eom" and L.accepted(rep),
	    label .. ": message accepted (reply " .. L.letter(rep) .. ")")
	for i in (DELETE or ""):gmatch("[^,]+") do
		L.check(mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results",
		    tonumber(i)), label ..
		    ": Authentication-Results #" .. i .. " deleted")
	end
	for i in (KEEP or ""):gmatch("[^,]+") do
		L.check(not mt.eom_check(conn, MT_HDRDELETE,
		    "Authentication-Results", tonumber(i)), label ..
		    ": Authentication-Results #" .. i .. " kept")
	end
	if (DELETE or "") == "" then
		L.check(not mt.eom_check(conn, MT_HDRDELETE,
		    "Authentication-Results"), label ..
		    ": no Authentication-Results deleted")
	end
	L.check(#L.headers_of(conn, "Authentication-Results") == 1,
	    label .. ": our own Authentication-Results added")
	L.echo(conn)
	mt.disconnect(conn)
end)
