-- Seeds 000 and 002: a future resolved by one task after a sleep and awaited
-- by another (asyncio.Future with create_task).
local xf = require "xfutures"

local function bar(future)
  print("bar will sleep for 0.3 seconds")
  xf.sleep(0.3)
  print("bar resolving the future")
  future:set_result("Finished!")
end

local function foo(future)
  print("foo will await the future")
  local result = xf.await(future)
  print("foo finds the future resolved")
  print(result)
end

xf.run(function()
  local future = xf.future()
  local t1 = xf.spawn(bar, future)
  local t2 = xf.spawn(foo, future)
  xf.await(xf.gather(t2, t1))
end)
print("main exiting")
