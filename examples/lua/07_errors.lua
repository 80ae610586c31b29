-- Error handling through futures (seeds 003 and 004): an error set on a
-- future comes out of await and reaches done callbacks; a task that raises
-- in a worker thread fails its future with that error.
local xf = require "xfutures"

local function work(n)
  if n % 2 == 0 then
    error({ type = "ValueError", message = ("task %d failed"):format(n) })
  end
  return n * 10
end

xf.run(function()
  local future = xf.future()
  future:set_error { type = "ValueError", message = "Something went wrong" }
  local ok, e = pcall(xf.await, future)
  if not ok then
    print("Caught exception: " .. e.message)
  end

  local another = xf.future()
  another:on_done(function(f)
    local ok2, err = pcall(f.result, f)
    if not ok2 then
      print("Callback caught: " .. err.message)
    end
  end)
  another:set_error { type = "RuntimeError", message = "Another error" }
  xf.sleep(0.01)

  local pool <close> = xf.lua_pool { workers = 2 }
  local futures = {}
  for n = 1, 4 do
    futures[n] = pool:submit(work, n)
  end
  for n, f in ipairs(futures) do
    local ok3, r = pcall(xf.await, f)
    if ok3 then
      print(("Task %d result: %d"):format(n, r))
    else
      print(("Task %d raised %s: %s"):format(n, r.type, r.message))
    end
  end
end)
