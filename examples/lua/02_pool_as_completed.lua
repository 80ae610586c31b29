-- A thread pool with results as they complete (seed 000): ten tasks, each in
-- a worker's own Lua state, sleep i * 30 ms and return i; submitted longest
-- first, they come back 1, 2, ... 10. Sleeps alone do not fix that order on
-- a busy machine, so task i, after its sleep, also waits until the result
-- i - 1 has been handed out: a future the main program sets as it prints,
-- passed to the worker's state by its handle (states share no Lua objects).
local xf = require "xfutures"

local function task(i, after)
  local xf = require "xfutures"
  xf.sleep(i * 0.03)
  if after then
    xf.future_from_handle(after):wait()
  end
  return i
end

do
  local handed_out = {} -- [i]: i was printed
  for i = 1, 10 do
    handed_out[i] = xf.future()
  end
  local executor <close> = xf.lua_pool { workers = 10 }
  local futures = {}
  for i = 10, 1, -1 do
    local after = handed_out[i - 1]
    futures[#futures + 1] = executor:submit(task, i, after and after:handle())
  end
  for future in xf.as_completed(futures) do -- blocks
    local i = future:result()
    print(i)
    handed_out[i]:set_result(true)
  end
end
