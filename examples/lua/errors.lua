-- Seeds 003 and 004: errors travel through futures, to await and to done
-- callbacks, also from a worker thread.
local xf = require "xfutures"

xf.run(function()
  local future = xf.future()
  future:set_error { type = "ValueError", message = "Something went wrong" }
  local ok, e = pcall(xf.await, future)
  if not ok then
    print(("Caught exception: %s"):format(e.message))
  end

  local another = xf.future()
  another:on_done(function(f)
    local ok2, err = pcall(f.result, f)
    if not ok2 then
      print(("Callback caught: %s"):format(err.message))
    end
  end)
  another:set_error { type = "RuntimeError", message = "Another error" }
  xf.sleep(0.01)

  local pool <close> = xf.lua_pool { workers = 2 }
  local futures = {}
  for i = 1, 4 do
    futures[i] = pool:submit(function(n)
      if n % 2 == 0 then
        error({ type = "ValueError", message = "task " .. n .. " failed" })
      end
      return n * 10
    end, i)
  end
  for i, f in ipairs(futures) do
    local ok3, r = pcall(xf.await, f)
    print(ok3 and ("Task %d result: %d"):format(i, r) or ("Task %d raised %s"):format(i, tostring(r)))
  end
end)
