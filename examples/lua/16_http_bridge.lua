-- HTTP server with future-based request handling (seed 003). A Lua state
-- has one thread, so the server runs on the state's own loop: its socket is
-- a TCP handle of Debian's lua-luv, whose libuv loop is driven by the
-- xfutures loop through fd readiness (xf.add_reader on libuv's descriptor).
-- GET /request/<id> starts a handler, a coroutine task that awaits the
-- request's future under xf.wait_for, and answers 202 at once.
-- GET /response/<id>?text=... resolves that future (404 for an unknown id),
-- GET /cancel/<id> withdraws a request and GET /shutdown stops the server.
--
-- The server binds 127.0.0.1 on an ephemeral port and prints it; its client
-- is examples/drivers/16_http_bridge.sh. It logs each request it serves, in
-- the order it serves them, and once every handler has ended it prints their
-- outcomes sorted by request id.
local uv = require "luv"
local xf = require "xfutures"

local DEFAULT_TIMEOUT = 300 -- seconds, as in the seed

local request_futures = {} -- request id -> the future of its response
local outcomes = {} -- request id -> outcome
local handlers = {} -- the handler tasks

local function handle_request(request_id, future, timeout)
  local ok, result = pcall(xf.await, xf.wait_for(future, timeout))
  if ok then
    outcomes[request_id] = "completed with: " .. result
  elseif xf.is_timeout(result) then
    outcomes[request_id] = "timed out"
  elseif xf.is_cancelled(result) then
    outcomes[request_id] = "was cancelled"
  else
    error(result, 0)
  end
  request_futures[request_id] = nil
end

local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h)
    return string.char(tonumber(h, 16))
  end))
end

local function query_param(query, name)
  for k, v in (query or ""):gmatch("([^&=]+)=([^&]*)") do
    if k == name then
      return unescape(v)
    end
  end
end

-- Serve one request; returns its status and the reply's text.
local function route(target, stop)
  local path, query = target:match("^([^?]*)%??(.*)$")
  local kind, request_id = path:match("^/(%a+)/([^/]+)$")
  if kind == "request" then
    local future = xf.future()
    local ms = tonumber(query_param(query, "timeout_ms") or DEFAULT_TIMEOUT * 1000)
    request_futures[request_id] = future
    handlers[#handlers + 1] = xf.spawn(handle_request, request_id, future, ms / 1000)
    return 202, "Request accepted"
  elseif kind == "response" or kind == "cancel" then
    -- Taken out of the map, so that a second answer finds nothing.
    local future = request_futures[request_id]
    request_futures[request_id] = nil
    if not future then
      return 404, "Request not found"
    elseif kind == "response" then
      future:set_result(query_param(query, "text") or "")
      return 200, "Response delivered"
    end
    future:cancel()
    return 200, "Request cancelled"
  elseif path == "/shutdown" then
    stop()
    return 200, "Shutting down"
  end
  return 404, "Unknown path"
end

-- libuv's loop runs whenever its descriptor is readable, until a run did
-- nothing: a callback of one run may defer work to the next (a finished
-- write, a close) or watch a new socket, which libuv tells the kernel only
-- at its next run. Every libuv callback here is made by on(), which notes
-- that there was work. The server uses no libuv timers.
local uv_fd, worked = uv.backend_fd(), false
local function on(fn)
  return function(...)
    worked = true
    return fn(...)
  end
end
local function drive_uv()
  repeat
    worked = false
    uv.run("nowait")
  until not worked and (uv.backend_timeout() ~= 0 or not uv.loop_alive())
end

local REASONS = { [200] = "OK", [202] = "Accepted", [404] = "Not Found" }

local function serve(server, stopped)
  local client = uv.new_tcp()
  server:accept(client)
  local buf = ""
  client:read_start(on(function(err, chunk)
    if err or not chunk then
      client:close()
      return
    end
    buf = buf .. chunk
    if not buf:find("\r\n\r\n", 1, true) then
      return -- the rest of the header is still to come
    end
    client:read_stop()
    local target = buf:match("^GET (%S+) HTTP/")
    local status, text = 400, "Bad request"
    if target then
      status, text = route(target, function()
        server:close()
        stopped:set_result(true)
      end)
    end
    print(("GET %s -> %d %s"):format(target or "?", status, text))
    client:write(("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
      .. "Connection: close\r\n\r\n%s"):format(status, REASONS[status] or "Error", #text, text),
      on(function()
        client:close()
      end))
  end))
end

xf.run(function()
  local server = uv.new_tcp()
  local stopped = xf.future()
  assert(server:bind("127.0.0.1", 0) == 0, "cannot bind 127.0.0.1")
  assert(server:listen(64, on(function(err)
    if not err then
      serve(server, stopped)
    end
  end)) == 0)
  print(("Serving on http://127.0.0.1:%d/"):format(server:getsockname().port))
  io.stdout:flush()
  drive_uv() -- libuv starts watching the socket
  xf.add_reader(uv_fd, drive_uv)
  xf.await(stopped)
  -- Every handler ends by itself now: resolved, cancelled or timed out.
  xf.await(xf.gather { return_exceptions = true, table.unpack(handlers) })
  drive_uv() -- the last closes
  xf.remove_reader(uv_fd)
  local ids, counts = {}, { completed = 0, timed = 0, was = 0 }
  for id, outcome in pairs(outcomes) do
    ids[#ids + 1] = id
    local k = outcome:match("^%a+")
    counts[k] = counts[k] + 1
  end
  table.sort(ids)
  for _, id in ipairs(ids) do
    print(("Request %s %s"):format(id, outcomes[id]))
  end
  print(("Server stopped: %d completed, %d timed out, %d cancelled"):format(counts.completed,
    counts.timed, counts.was))
end)
uv.loop_close()
