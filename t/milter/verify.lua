-- verify.lua - a message from an external client: verified, not signed;
-- one Authentication-Results header added (its dkim= results are checked
-- by the calling test from the "hdr" lines).
-- Variables: SOCKET, HDRS, BODY, IP, HOST, LABEL; EXPECT_AR (default 1).
local okl, err = pcall(dofile, MT_LIB)
if not okl then
	print("error\tcannot load " .. tostring(MT_LIB) .. ": " .. tostring(err))
	os.exit(2)
end

L.main(function()
	local label = LABEL or "verify"
	local conn = L.connect()
	local rep, stage = L.send(conn, L.message())
	print("reply\t" .. L.letter(rep))
	L.check(stage == "eom" and L.accepted(rep),
	    label .. ": message accepted (reply " .. L.letter(rep) ..
	    " at " .. stage .. ")")
	local ar = L.headers_of(conn, "Authentication-Results")
	local want = tonumber(EXPECT_AR or "1")
	L.check(#ar == want, label .. ": " .. want ..
	    " Authentication-Results header(s) added (got " .. #ar .. ")")
	L.check(#L.headers_of(conn, "DKIM-Signature") == 0,
	    label .. ": not signed")
	L.echo(conn)
	mt.disconnect(conn)
end)
