-- Seed 002: a coroutine creates a future and awaits it until a callback
-- scheduled with call_later resolves it; every step runs on the main thread.
local xf = require "xfutures"

local main_thread = xf.thread_id()
local function on_main()
  return xf.thread_id() == main_thread
end

local function resolver(future)
  print(("Is the callback running on the main thread = %s"):format(on_main()))
  future:set_result(nil)
end

local function coro()
  local future = xf.future()
  xf.call_later(0.2, resolver, future)
  print(("Is the coroutine running inside a task = %s"):format(xf.current_task() ~= nil))
  xf.await(future)
  print("coro exiting")
end

local start = xf.time()
xf.run(coro)
print(("main exiting after %.1f seconds"):format(xf.time() - start))
