-- call_later resolving a future (seed 002): a coroutine makes a future,
-- schedules a resolver on the loop and awaits the future. Lua has no
-- "is the loop running" query; a task exists only while its loop runs, so
-- xf.current_task() answers it.
local xf = require "xfutures"

local main_thread = xf.thread_id()

local function yes(b)
  return b and "True" or "False"
end

local function resolver(future)
  print("resolver: on the main thread = " .. yes(xf.thread_id() == main_thread))
  local core = require "xfutures_core"
  local t = core.now()
  while core.now() - t < 2e7 do -- blocks the loop for 20 ms, as the seed's resolver does
  end
  future:set_result(nil)
end

local function coro()
  local future = xf.future()
  xf.call_later(0.05, resolver, future)
  print("coro: inside a running loop = " .. yes(xf.current_task() ~= nil))
  xf.await(future)
  print("coro exiting")
end

print("main: inside a running loop = " .. yes(xf.current_task() ~= nil))
xf.run(coro)
print("main exiting")
