-- Offloading blocking work to threads and gathering the results (seed 000,
-- asyncio.to_thread + gather): each call runs in a worker's own Lua state.
local xf = require "xfutures"

local function parallelize(x)
  local total = 0
  for i = 0, x - 1 do
    for j = 0, x - 1 do
      total = total + (i + j)
    end
  end
  return total
end

local function compute(x)
  return xf.await(xf.to_thread(parallelize, x))
end

local results = xf.run(function()
  local tasks = {}
  for i, num in ipairs { 1, 10, 100 } do
    tasks[i] = xf.spawn(compute, num)
  end
  return xf.await(xf.gather(table.unpack(tasks)))
end)
print("[" .. table.concat(results, ", ") .. "]")
