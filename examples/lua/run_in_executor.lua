-- Seed 004: blocking work from inside the loop, in a pool of threads; four
-- blocking calls of 0.2 s take about 0.2 s together, and a thread pool runs a
-- native function with a done callback that fires on the main thread.
local xf = require "xfutures"

local function blocking(n)
  local core = require "xfutures_core"
  local t = core.now()
  while core.now() - t < 2e8 do
  end -- 0.2 s of blocking work
  return n * n
end

local pool <close> = xf.lua_pool { workers = 4 }
local start = xf.time()
local results = xf.run(function()
  local fs = {}
  for i = 1, 4 do
    fs[i] = pool:submit(blocking, i)
  end
  return xf.await(xf.gather(table.unpack(fs)))
end)
print(("Results: %s"):format(table.concat(results, ", ")))
print(("Four blocking calls took %.1f seconds, not 0.8"):format(xf.time() - start))

local threads <close> = xf.thread_pool { max_workers = 2 }
local labs = assert(xf.dlsym(nil, "labs"))
local main_thread = xf.thread_id()
local f = threads:submit_native(labs, "int64(int64)", -42)
f:on_done(function(done)
  print(("Native result %d, callback on the main thread: %s"):format(done:result(),
    xf.thread_id() == main_thread))
end)
xf.run(f)
xf.sleep(0.01)
