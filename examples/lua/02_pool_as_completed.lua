-- A thread pool with results as they complete (seed 000): ten tasks, each in
-- a worker's own Lua state, sleep i * 30 ms and return i; submitted longest
-- first, they come back 1, 2, ... 10.
local xf = require "xfutures"

local function task(i)
  require("xfutures").sleep(i * 0.03)
  return i
end

do
  local executor <close> = xf.lua_pool { workers = 10 }
  local futures = {}
  for i = 10, 1, -1 do
    futures[#futures + 1] = executor:submit(task, i)
  end
  for future in xf.as_completed(futures) do -- blocks
    print(future:result())
  end
end
