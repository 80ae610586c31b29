-- Seed 000: a pool with results as they complete. Each task runs in a
-- worker's own Lua state, sleeps i tenths of a second and returns i; the
-- results come back in the order the tasks finish: 1, 2, ..., 10.
local xf = require "xfutures"

local function task(i)
  require("xfutures").sleep(i / 10)
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
