-- Aggregation of results and exceptions (seed 003): wait for every future,
-- then sort the outcomes into results and exceptions.
local xf = require "xfutures"

local function work(n)
  xf.sleep(0.01 * n)
  if n == 3 then
    error({ type = "ValueError", message = ("task %d failed"):format(n) })
  end
  return n * n
end

local function aggregate_futures(futures)
  -- gather with return_exceptions waits for all of them
  xf.await(xf.gather { return_exceptions = true, table.unpack(futures) })
  local results, exceptions = {}, {}
  for _, future in ipairs(futures) do
    local ok, r = pcall(future.result, future)
    if ok then
      results[#results + 1] = tostring(r)
    else
      exceptions[#exceptions + 1] = r.message
    end
  end
  return results, exceptions
end

xf.run(function()
  local futures = {}
  for n = 1, 4 do
    futures[n] = xf.spawn(work, n)
  end
  local results, exceptions = aggregate_futures(futures)
  print(("Aggregated results: [%s], exceptions: [%s]"):format(table.concat(results, ", "),
    table.concat(exceptions, ", ")))
end)
