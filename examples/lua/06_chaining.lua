-- Future chaining (seed 003): each future's done callback resolves the next.
local xf = require "xfutures"

xf.run(function()
  local future1, future2, future3 = xf.future(), xf.future(), xf.future()
  future1:on_done(function(f)
    future2:set_result(f:result() .. " -> Future 2")
  end)
  future2:on_done(function(f)
    future3:set_result(f:result() .. " -> Future 3")
  end)
  future1:set_result("Future 1")
  print(xf.await(future3))
end)
