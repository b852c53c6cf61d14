-- checks.lua - one message through postern-checks and the milter effects
-- of its header_checks / body_checks actions, as miltertest sees them.
--
-- Variables (all but SOCKET and HDRS optional):
--   SOCKET, HDRS, BODY, IP, HOST, HELO, FROM, LABEL, TIMEOUT, QID (macro i)
--   RCPTS      recipients, comma-separated ("<a@x>,<b@y>")
--   EXPECT     accept | reject | tempfail | discard | quarantine
--   REPLY_CODE, REPLY_ESC, REPLY_TEXT  the SMTP reply (MT_SMTPREPLY;
--              miltertest records it at EOM only)
--   CHECK1 .. CHECK40  one eom_check each: "OP|arg|arg|arg", OP one of
--              HDRADD HDRCHANGE HDRDELETE HDRINSERT RCPTADD RCPTDELETE
--              BODYCHANGE QUARANTINE; "!OP|..." must NOT have happened;
--              args %-escaped (%20 for a leading space, %0D%0A...);
--              "BODYFILE|path": the body was replaced by that file's
--              bytes; "NOEDITS": no header or body edit and no
--              quarantine.  miltertest records SMFIR_ADDRCPT only, not
--              SMFIR_ADDRCPT_PAR (a recipient added with NOTIFY=NEVER).
-- Output: lib.lua's ("ok - ...", "reply<TAB>LETTER", "stage<TAB>...").
local okl, err = pcall(dofile, MT_LIB)
if not okl then
	print("error\tcannot load " .. tostring(MT_LIB) .. ": " .. tostring(err))
	os.exit(2)
end

local OPS = {
	HDRADD = MT_HDRADD, HDRCHANGE = MT_HDRCHANGE,
	HDRDELETE = MT_HDRDELETE, HDRINSERT = MT_HDRINSERT,
	RCPTADD = MT_RCPTADD, RCPTDELETE = MT_RCPTDELETE,
	BODYCHANGE = MT_BODYCHANGE, QUARANTINE = MT_QUARANTINE,
}

local function split(s, sep)
	local out = {}
	for part in (s .. sep):gmatch("(.-)" .. sep:gsub("%p", "%%%0")) do
		out[#out + 1] = part
	end
	return out
end

local function readfile(path)
	local f = io.open(path, "rb")
	if f == nil then
		error("cannot open " .. path)
	end
	local s = f:read("a")
	f:close()
	return s
end

L.main(function()
	local label = LABEL or "checks"
	local expect = EXPECT or "accept"
	local m = {
		ip = IP or "192.0.2.1",
		host = HOST or "client.example.net",
		helo = HELO or HOST or "client.example.net",
		from = FROM or "<alice@example.com>",
		headers = L.read_headers(HDRS),
		bodyfile = BODY,
		rcpts = split(RCPTS or "<bob@example.net>", ","),
		connect_macros = { "j", "mx.test.example" },
		mail_macros = { "i", QID or "4CHK1A2B3C" },
	}
	local conn = L.connect()
	local rep, stage = L.send(conn, m)
	print("reply\t" .. L.letter(rep))
	print("stage\t" .. stage)
	local at_eom = stage == "eom"
	local what = " (reply " .. L.letter(rep) .. " at " .. stage .. ")"
	if expect == "reject" then
		L.check(rep == SMFIR_REPLYCODE or rep == SMFIR_REJECT,
		    label .. ": rejected" .. what)
	elseif expect == "tempfail" then
		L.check(rep == SMFIR_REPLYCODE or rep == SMFIR_TEMPFAIL,
		    label .. ": temporarily refused" .. what)
	elseif expect == "discard" then
		L.check(rep == SMFIR_DISCARD, label .. ": discarded" .. what)
	elseif expect == "quarantine" then
		L.check(at_eom and L.accepted(rep) and
		    mt.eom_check(conn, MT_QUARANTINE),
		    label .. ": accepted and quarantined" .. what)
	else
		L.check(at_eom and L.accepted(rep),
		    label .. ": accepted" .. what)
	end
	if REPLY_CODE ~= nil and at_eom then
		L.check(mt.eom_check(conn, MT_SMTPREPLY, REPLY_CODE, REPLY_ESC,
		    REPLY_TEXT), label .. ": SMTP reply " .. REPLY_CODE .. " " ..
		    REPLY_ESC .. " " .. REPLY_TEXT)
	end
	for i = 1, 40 do
		local spec = _G["CHECK" .. i]
		if spec ~= nil then
			local parts = split(spec, "|")
			local op = parts[1]
			local neg = op:sub(1, 1) == "!"
			if neg then
				op = op:sub(2)
			end
			local args = {}
			for j = 2, #parts do
				args[#args + 1] = L.unesc(parts[j])
			end
			local got
			if not at_eom then
				got = false
			elseif op == "NOEDITS" then
				-- MT_RCPTADD/MT_RCPTDELETE need an argument:
				-- recipients are checked with !RCPT... checks
				got = true
				for _, o in ipairs({ MT_HDRADD, MT_HDRCHANGE,
				    MT_HDRDELETE, MT_HDRINSERT, MT_BODYCHANGE,
				    MT_QUARANTINE }) do
					if mt.eom_check(conn, o) then
						got = false
					end
				end
			elseif op == "BODYFILE" then
				got = mt.eom_check(conn, MT_BODYCHANGE,
				    readfile(args[1]))
			elseif OPS[op] == nil then
				error("unknown check " .. op)
			else
				got = mt.eom_check(conn, OPS[op],
				    table.unpack(args))
			end
			if neg then
				got = at_eom and not got
			end
			L.check(got, label .. ": " .. (neg and "no " or "") ..
			    spec:gsub("%%20", " "))
		end
	end
	mt.disconnect(conn)
end)
