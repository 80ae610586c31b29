-- Bridging executor work into the loop (seeds 003 and 004): awaiting a pool
-- future from a task (run_in_executor); the same bridge by hand (a pool
-- future whose done callback resolves a loop-side future); and four blocking
-- calls at once. The pool's workers each run their own Lua state. The four
-- calls show that they run at once by meeting after their sleep: each
-- finishes its own future and waits for the other three (states share no
-- Lua objects: the futures cross by their handles), which only calls running
-- at the same time can do (the wait's bound only ends a hang).
local xf = require "xfutures"

local function time_consuming_function(arg1, arg2)
  require("xfutures").sleep(0.05) -- blocking, in a worker thread
  return ("Processed %s and %s"):format(arg1, arg2)
end

local function cpu_bound_work(x)
  local result = 0
  for i = 0, 10 ^ 5 - 1 do
    result = result + i * x
  end
  return result
end

local function blocking_sleep(s, mine, others)
  local xf = require "xfutures"
  xf.sleep(s)
  xf.future_from_handle(mine):set_result(true)
  local met = true
  for _, h in ipairs(others) do
    met = xf.future_from_handle(h):wait(30) and met
  end
  return met
end

local function run_in_thread_pool(pool, fn, ...)
  local future = xf.future()
  pool:submit(fn, ...):on_done(function(thread_future) -- on this state's thread
    local ok, r = pcall(thread_future.result, thread_future)
    if ok then
      future:set_result(r)
    else
      future:set_error(r)
    end
  end)
  return xf.await(future)
end

local pool <close> = xf.lua_pool { workers = 4 }
xf.run(function()
  print("Thread result: " .. xf.await(pool:submit(time_consuming_function, "arg1", "arg2")))
  print(("Result: %d"):format(run_in_thread_pool(pool, cpu_bound_work, 2)))
  local arrived, handles = {}, {}
  for i = 1, 4 do
    arrived[i] = xf.future()
    handles[i] = arrived[i]:handle()
  end
  local calls = {}
  for i = 1, 4 do
    local others = {}
    for j = 1, 4 do
      if j ~= i then
        others[#others + 1] = handles[j]
      end
    end
    calls[i] = pool:submit(blocking_sleep, 0.15, handles[i], others)
  end
  local met = xf.await(xf.gather(table.unpack(calls)))
  local all_met = met[1] and met[2] and met[3] and met[4]
  print("4 blocking calls ran concurrently: " .. (all_met and "True" or "False"))
end)
