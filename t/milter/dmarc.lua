-- dmarc.lua - one message through postern-dmarc: the reply, the dmarc=
-- result of the Authentication-Results header it adds, the quarantine
-- request and the quarantine header.
-- Variables: SOCKET, HDRS, BODY, IP, HOST, HELO, FROM (envelope sender,
-- with its <>), AUTH ({auth_authen}), LABEL;
--   EXPECT   accept | reject | tempfail | hold (accepted + quarantined)
--            | skip (accepted before end of message: not checked)
--   RESULT   the dmarc= word expected, or "-" for no header at all
--   POLICY   text expected in the header's comment, e.g. "p=reject
--            dis=quarantine" (optional)
--   HFROM    header.from expected (optional)
--   QHDR     a header name the milter must add (quarantine_action =
--            header); NOQHDR one it must not add
--   REPLY_CODE, REPLY_ESC, REPLY_TEXT  the exact SMTP reply (MT_SMTPREPLY,
--            end of message only)
local okl, err = pcall(dofile, MT_LIB)
if not okl then
	print("error\tcannot load " .. tostring(MT_LIB) .. ": " .. tostring(err))
	os.exit(2)
end

L.main(function()
	local label = LABEL or "dmarc"
	local expect = EXPECT or "accept"
	local m = L.message()
	if HELO ~= nil then
		m.helo = HELO
	end
	local conn = L.connect()
	local rep, stage = L.send(conn, m)
	print("reply\t" .. L.letter(rep))
	local at_eom = stage == "eom"
	local q = at_eom and mt.eom_check(conn, MT_QUARANTINE)
	local what = " (reply " .. L.letter(rep) .. " at " .. stage ..
	    ", quarantine " .. tostring(q) .. ")"
	if expect == "reject" then
		L.check(rep == SMFIR_REPLYCODE or rep == SMFIR_REJECT,
		    label .. ": rejected" .. what)
	elseif expect == "tempfail" then
		L.check(rep == SMFIR_REPLYCODE or rep == SMFIR_TEMPFAIL,
		    label .. ": temporarily refused" .. what)
	elseif expect == "skip" then
		L.check(rep == SMFIR_ACCEPT and not at_eom,
		    label .. ": accepted unchecked before end of message" .. what)
	elseif expect == "hold" then
		L.check(at_eom and L.accepted(rep) and q,
		    label .. ": accepted and held (quarantine)" .. what)
	else
		L.check(at_eom and L.accepted(rep) and not q,
		    label .. ": accepted, not held" .. what)
	end
	if REPLY_CODE ~= nil then
		L.check(at_eom and mt.eom_check(conn, MT_SMTPREPLY, REPLY_CODE,
		    REPLY_ESC, REPLY_TEXT), label .. ": SMTP reply " ..
		    REPLY_CODE .. " " .. REPLY_ESC .. " " .. REPLY_TEXT)
	end
	local ars = at_eom and L.headers_of(conn, "Authentication-Results")
	    or {}
	local found = {}
	for _, v in ipairs(ars) do
		v = v:gsub("[\r\n\t ]+", " ")
		local res = v:match(";%s*dmarc=(%w+)")
		if res ~= nil then
			found[#found + 1] = v
		end
	end
	if RESULT == "-" then
		L.check(#ars == 0, label .. ": no Authentication-Results added " ..
		    "(got " .. #ars .. ")")
	elseif RESULT ~= nil then
		local v = found[1] or ""
		L.check(#found == 1 and #ars == 1, label ..
		    ": one Authentication-Results added (got " .. #ars .. ")")
		L.check(v:match(";%s*dmarc=(%w+)") == RESULT, label ..
		    ": dmarc=" .. RESULT .. " (" .. v .. ")")
		L.check(v:match("^%s*mx%.test%.example;") ~= nil, label ..
		    ": authserv-id mx.test.example")
		if POLICY ~= nil then
			L.check(v:find("(" .. POLICY .. ")", 1, true) ~= nil,
			    label .. ": (" .. POLICY .. ")")
		end
		if HFROM ~= nil then
			L.check(v:find("header.from=" .. HFROM, 1, true) ~= nil,
			    label .. ": header.from=" .. HFROM)
		end
	end
	if QHDR ~= nil then
		L.check(#L.headers_of(conn, QHDR) == 1, label ..
		    ": header " .. QHDR .. " added")
	end
	if NOQHDR ~= nil then
		L.check(#L.headers_of(conn, NOQHDR) == 0, label ..
		    ": no " .. NOQHDR .. " header")
	end
	if at_eom then
		L.echo(conn)
	end
	mt.disconnect(conn)
end)
