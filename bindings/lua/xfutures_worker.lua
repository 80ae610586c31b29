--- The worker program of xf.process_pool: lua5.4 running this module,
--   lua5.4 -e "package.path = ... package.cpath = ...
--              os.exit(require('xfutures_worker').main(), true)"
--
-- Design notes
-- ------------
-- The core's process pool (core/src/process_pool.c) spawns this program with
-- its end of a socketpair as file descriptor 3 and speaks the frames of
-- docs/wire-protocol.md with it; this module is the "lua" language of that
-- protocol, as core/worker/xfworker.c is the "c" one:
--
--   -> HELLO      [0, 1, pid, ["lua"], "xfutures_worker"]
--   <- INIT       [1, 1, null or ["lua", payload]]
--   -> READY      [2, null or error]
--   <- TASK       [3, id, "lua", payload]   -> RESULT [4, id, value]
--                                               or ERROR [5, id, error]
--   <- SHUTDOWN   [6] (or end of file): exit with status 0
--
-- Frames are moved, encoded and decoded by the core through the binding
-- (core.wire_recv, core.wire_send, which use the core's codec); only the
-- conversation is written here. A payload is [code, module, name, args, n]:
-- code is string.dump(fn) (its upvalues, but _ENV, are not carried: the
-- parent refuses such a function), or false and module and name for
-- require(module)[name]; args holds the n arguments (a map when some are
-- nil, a list otherwise). The worker finds modules through the package.path
-- and package.cpath of its parent, which the parent puts on its command line.
--
-- Results and errors. The first value a task returns is its result; one
-- that cannot cross (a function, a userdata, a coroutine, a table with a
-- metatable) fails that task alone with a TypeError saying so. An error
-- raised by the task comes back as an error table (type, message,
-- traceback, code) as the binding's errors are: an xfutures error table
-- keeps its type and code, a table with type and message fields keeps them,
-- anything else is a "LuaError" with the error's text.
--
-- The initializer runs like a task before READY; one that raises answers
-- READY with its error, written to stderr too, and the worker exits with
-- status 1: the pool is broken. Signals (SIGINT ignored, death with the
-- parent) are set by core.wire_start, in C.
local core = require "xfutures_core"

local M = {}

local HELLO, INIT, READY, TASK, RESULT, ERROR, SHUTDOWN = 0, 1, 2, 3, 4, 5, 6
local VERSION = 1

local ErrorMT = core.metatables.error

-- The error table for whatever a task raised, with a traceback.
local function handler(e)
  local tb = debug.traceback(nil, 2)
  if getmetatable(e) == ErrorMT then
    if rawget(e, "traceback") == nil then
      rawset(e, "traceback", tb)
    end
    -- A cancellation raised by the task's own code is a plain failure,
    -- never the cancellation of the parent's future.
    if rawget(e, "code") == core.ECANCELLED then
      rawset(e, "code", core.EFAILED)
    end
    return e
  end
  local etype, message = "LuaError", nil
  if type(e) == "table" and getmetatable(e) == nil then
    if type(e.type) == "string" then
      etype = e.type
    end
    if type(e.message) == "string" then
      message = e.message
    end
  end
  if not message then
    local ok, s = pcall(tostring, e)
    message = ok and s or "error object without a message"
  end
  local code = core.EFAILED
  if etype == "TimeoutError" then
    code = core.ETIMEDOUT
  end
  local err = core.make_error(code, etype, (message:gsub("%z", "\\0")))
  rawset(err, "traceback", tb)
  return err
end

-- The function of a payload.
local function resolve(payload)
  if type(payload) ~= "table" then
    error(core.make_error(core.EINVAL, "ValueError", "a lua task's payload is a list"), 0)
  end
  local code, module, name = payload[1], payload[2], payload[3]
  if type(code) == "string" then
    local fn, err = load(code, "=(process_pool task)", "b")
    if not fn then
      error(core.make_error(core.EINVAL, "ValueError", "cannot load the task: " .. err), 0)
    end
    -- A dumped function's upvalues are fresh; _ENV gets the globals.
    for i = 1, math.huge do
      local up = debug.getupvalue(fn, i)
      if not up then
        break
      end
      if up == "_ENV" then
        debug.setupvalue(fn, i, _G)
      end
    end
    return fn
  end
  if type(module) ~= "string" or type(name) ~= "string" then
    error(core.make_error(core.EINVAL, "ValueError", "a lua task names no function"), 0)
  end
  local mod = require(module)
  local fn = type(mod) == "table" and mod[name] or nil
  if type(fn) ~= "function" then
    error(core.make_error(core.EINVAL, "ValueError",
      "module '" .. module .. "' has no function '" .. name .. "'"), 0)
  end
  return fn
end

-- Run a payload: true, result or false, error table.
local function call(payload)
  return xpcall(function()
    local fn = resolve(payload)
    local args = type(payload[4]) == "table" and payload[4] or {}
    local n = math.type(payload[5]) == "integer" and payload[5] or #args
    return (fn(table.unpack(args, 1, n)))
  end, handler)
end

-- Send the answer to a task; false when the socket is gone.
local function answer(id, ok, value)
  if ok then
    local sent, why, code = core.wire_send(RESULT, id, value)
    if sent ~= nil then
      return sent
    end
    value = core.make_error(code, "TypeError", "the task's result cannot cross: " .. why)
  end
  local sent, why, code = core.wire_send(ERROR, id, value)
  if sent ~= nil then
    return sent
  end
  -- An error whose fields do not cross (a nested payload): its text only.
  value = core.make_error(code, "TypeError", "the task's error cannot cross: " .. why)
  return core.wire_send(ERROR, id, value) == true
end

--- The worker's conversation; returns its exit status.
function M.main()
  local pid = core.wire_start()
  if not pid then
    return 1 -- the pool is gone already
  end
  if not core.wire_send(HELLO, VERSION, pid, { "lua" }, "xfutures_worker") then
    return 1
  end
  local frame = core.wire_recv()
  if not frame or frame[1] ~= INIT then
    return 1
  end
  local err
  if frame[2] ~= VERSION then
    err = core.make_error(core.EINVAL, "ValueError", "unsupported protocol version")
  elseif type(frame[3]) == "table" then
    local init = frame[3]
    if init[1] ~= "lua" then
      err = core.make_error(core.EINVAL, "ValueError",
        "xfutures_worker runs initializers of language \"lua\" only")
    else
      local ok, e = call(init[2])
      if not ok then
        io.stderr:write("Error in initializer: ", tostring(e), "\n", e.traceback or "", "\n")
        io.stderr:flush()
        err = e
      end
    end
  end
  if not core.wire_send(READY, err) or err then
    return 1
  end
  while true do
    frame = core.wire_recv()
    if not frame or frame[1] == SHUTDOWN then
      break
    end
    if frame[1] ~= TASK or math.type(frame[2]) ~= "integer" then
      break -- not a frame this version knows: the pool sees us leave
    end
    local id, language, payload = frame[2], frame[3], frame[4]
    frame = nil
    local ok, value
    if language ~= "lua" then
      ok, value = false, core.make_error(core.EINVAL, "ValueError",
        "xfutures_worker runs tasks of language \"lua\" only, not " .. tostring(language))
    else
      ok, value = call(payload)
    end
    payload = nil
    if not answer(id, ok, value) then
      break
    end
  end
  io.stdout:flush()
  return 0
end

return M
