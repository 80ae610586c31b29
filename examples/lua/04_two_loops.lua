-- Event loops in two threads (seed 002). A Lua state belongs to one thread,
-- so each "thread" here is a worker of a lua_pool: a thread with its own Lua
-- state, which runs its own loop (xf.run) with a task on it. The main state
-- runs no loop meanwhile. Each thread's report is printed by the main thread
-- afterwards, so the order of the lines is fixed.
local xf = require "xfutures"

local function launch_event_loop(name, sleep_for)
  local xf = require "xfutures"
  return xf.run(function()
    -- a task runs only while its loop runs
    local running = xf.current_task() ~= nil
    local report = ("Is event loop running in thread %s = %s"):format(name,
      running and "True" or "False")
    xf.sleep(sleep_for)
    return report .. "\n" .. ("%s slept %s seconds"):format(name, sleep_for)
  end)
end

local pool <close> = xf.lua_pool { workers = 2 }
local threads = {}
for i = 1, 2 do
  threads[i] = pool:submit(launch_event_loop, "Thread-" .. i, 0.05 * i)
end
print(("Is event loop running in thread MainThread = %s"):format(
  xf.current_task() ~= nil and "True" or "False"))
for _, t in ipairs(threads) do
  print(t:result())
end
