-- lib.lua - helpers shared by postern's miltertest scripts (t/milter/*.lua)
--
-- Loaded by each script with dofile(MT_LIB); t/lib/milter_test.py's
-- run_lua() passes MT_LIB and the script's other variables with -D.
--
-- Output, one line each, read back by run_lua():
--   "ok - NAME" / "not ok - NAME"   one TAP test
--   "hdr<TAB>NAME<TAB>VALUE"         a header the milter inserted or added
--                                    (VALUE %-escaped: %, CR, LF, TAB)
--   "reply<TAB>LETTER"               the milter's final reply
--   "error<TAB>MESSAGE"              a Lua error (the script stops, exit 2)
-- miltertest exits 1 without printing a Lua error, hence L.main's pcall.
--
-- Headers come from a file of "Name:value" lines (value %-escaped, folds
-- as LF, leading space as in the message: miltertest drops it and, like
-- Postfix, sends one space again when the milter asked for
-- SMFIP_HDR_LEADSPC), bodies from a file sent with mt.bodyfile.
-- miltertest reads replies into a 1024-byte buffer and builds header
-- commands in one too: keep each header (and each header the milter
-- inserts) under ~1000 bytes here; bigger input goes through
-- milter_test.py's own client.

L = {}

function L.check(cond, name)
	if cond then
		print("ok - " .. name)
	else
		print("not ok - " .. name)
	end
	return cond
end

function L.esc(s)
	s = s:gsub("%%", "%%25")
	s = s:gsub("\r", "%%0D")
	s = s:gsub("\n", "%%0A")
	s = s:gsub("\t", "%%09")
	return s
end

function L.unesc(s)
	return (s:gsub("%%(%x%x)", function(h)
		return string.char(tonumber(h, 16))
	end))
end

-- L.read_headers - {{name, value}, ...} from a header file
function L.read_headers(path)
	local f = io.open(path, "r")
	if f == nil then
		error("cannot open header file " .. tostring(path))
	end
	local out = {}
	for line in f:lines() do
		local name, value = line:match("^([^:]+):(.*)$")
		if name ~= nil then
			out[#out + 1] = { name, L.unesc(value) }
		end
	end
	f:close()
	return out
end

function L.letter(r)
	if r == nil or r == 0 then
		return "?"
	end
	return string.char(r)
end

-- L.connect - a connection to the milter at SOCKET (retried for 10 s)
function L.connect()
	local conn = mt.connect(SOCKET, 40, 0.25)
	if conn == nil then
		error("mt.connect(" .. tostring(SOCKET) .. ") failed")
	end
	return conn
end

local function cont(conn, ret, what)
	if ret ~= nil then
		error(what .. " failed: " .. tostring(ret))
	end
	return mt.getreply(conn) == SMFIR_CONTINUE
end

-- L.send - one message; m: ip, host, helo, from, rcpt (or rcpts, a list),
-- connect_macros,
-- mail_macros (flat lists name, value, ...), headers ({{n, v}}), bodyfile.
-- Returns the final reply (a number) and the stage it came at; stops at
-- the first reply that is not "continue".
function L.send(conn, m)
	local function macros(kind, list)
		if list ~= nil and #list > 0 then
			mt.macro(conn, kind, table.unpack(list))
		end
	end
	local r = mt.negotiate(conn, nil, nil, nil)
	if r ~= nil then
		error("mt.negotiate failed: " .. tostring(r))
	end
	local function skip(opt)
		return mt.test_option(conn, opt)
	end
	-- steps the milter opted out of at negotiation are not sent
	-- (miltertest refuses them), macros for them neither
	if not skip(SMFIP_NOCONNECT) then
		macros(SMFIC_CONNECT, m.connect_macros)
		if not cont(conn, mt.conninfo(conn, m.host or
		    "client.example.net", m.ip or "192.0.2.1"),
		    "mt.conninfo") then
			return mt.getreply(conn), "connect"
		end
	end
	if not skip(SMFIP_NOHELO) then
		if not cont(conn, mt.helo(conn, m.helo or m.host or
		    "client.example.net"), "mt.helo") then
			return mt.getreply(conn), "helo"
		end
	end
	if not skip(SMFIP_NOMAIL) then
		macros(SMFIC_MAIL, m.mail_macros)
		if not cont(conn, mt.mailfrom(conn, m.from or
		    "<alice@example.com>"), "mt.mailfrom") then
			return mt.getreply(conn), "mail"
		end
	end
	if not skip(SMFIP_NORCPT) then
		for _, rc in ipairs(m.rcpts or { m.rcpt or
		    "<bob@example.net>" }) do
			if not cont(conn, mt.rcptto(conn, rc), "mt.rcptto") then
				return mt.getreply(conn), "rcpt"
			end
		end
	end
	if not skip(SMFIP_NOHDRS) then
		for _, h in ipairs(m.headers or {}) do
			-- miltertest puts one space back itself when the
			-- milter negotiated SMFIP_HDR_LEADSPC (as Postfix does)
			local v = h[2]
			if v:sub(1, 1) == " " then
				v = v:sub(2)
			end
			if not cont(conn, mt.header(conn, h[1], v),
			    "mt.header") then
				return mt.getreply(conn), "header"
			end
		end
	end
	if not skip(SMFIP_NOEOH) then
		if not cont(conn, mt.eoh(conn), "mt.eoh") then
			return mt.getreply(conn), "eoh"
		end
	end
	if m.bodyfile ~= nil and not skip(SMFIP_NOBODY) then
		r = mt.bodyfile(conn, m.bodyfile)
		if r ~= nil then
			error("mt.bodyfile failed: " .. tostring(r))
		end
		local rep = mt.getreply(conn)
		if rep ~= SMFIR_CONTINUE and rep ~= SMFIR_SKIP then
			return rep, "body"
		end
	end
	r = mt.eom(conn)
	if r ~= nil then
		error("mt.eom failed: " .. tostring(r))
	end
	return mt.getreply(conn), "eom"
end

-- L.headers_of - the values of every NAME header inserted or added at EOM
function L.headers_of(conn, name)
	local out = {}
	local n = 0
	while true do
		local v = mt.getheader(conn, name, n)
		if v == nil then
			break
		end
		out[#out + 1] = v
		n = n + 1
		if n > 100 then
			break
		end
	end
	return out
end

-- L.echo - print the DKIM-Signature and Authentication-Results headers
function L.echo(conn)
	for _, name in ipairs({ "DKIM-Signature", "Authentication-Results" }) do
		for _, v in ipairs(L.headers_of(conn, name)) do
			print("hdr\t" .. name .. "\t" .. L.esc(v))
		end
	end
end

-- L.message - the message described by the usual variables: HDRS, BODY,
-- IP, HOST, FROM, AUTH ({auth_authen}), DAEMON_NAME ({daemon_name})
function L.message()
	local m = {
		ip = IP or "192.0.2.1",
		host = HOST or "client.example.net",
		from = FROM or "<alice@example.com>",
		headers = L.read_headers(HDRS),
		bodyfile = BODY,
		connect_macros = { "j", "mx.test.example" },
		mail_macros = { "i", "4AB1C2D3E4" },
	}
	if DAEMON_NAME ~= nil then
		m.connect_macros[#m.connect_macros + 1] = "{daemon_name}"
		m.connect_macros[#m.connect_macros + 1] = DAEMON_NAME
	end
	if AUTH ~= nil then
		m.mail_macros[#m.mail_macros + 1] = "{auth_authen}"
		m.mail_macros[#m.mail_macros + 1] = AUTH
		m.mail_macros[#m.mail_macros + 1] = "{auth_type}"
		m.mail_macros[#m.mail_macros + 1] = "PLAIN"
	end
	return m
end

function L.accepted(rep)
	return rep == SMFIR_ACCEPT or rep == SMFIR_CONTINUE
end

-- L.main - run fn under pcall; a Lua error becomes an "error" line
function L.main(fn)
	if TIMEOUT ~= nil then
		mt.set_timeout(tonumber(TIMEOUT))
	end
	local good, err = pcall(fn)
	if not good then
		print("error\t" .. tostring(err))
		os.exit(2)
	end
end

return L
