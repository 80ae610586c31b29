-- Process-pool work awaited in the event loop (seed 004, example 23.3): a
-- task awaits, with xf.await, the futures of two kinds of pool, whichever
-- the pool: a blocking call goes to a pool of Lua threads and four
-- CPU-bound counts to a process pool, and one gather awaits them all while
-- the loop goes on running its other tasks.
--
-- That the loop kept running is shown by a task spawned before the work
-- was handed out: it runs on the loop's next turn, while main awaits, and
-- before the gathered result can reach main (the pools' completions reach
-- the loop later, queued behind that task's first step).
local xf = require "xfutures"

local LIMITS = { 10000, 20000, 30000, 40000 }

local function blocking_io(name)
  require("xfutures").sleep(0.05) -- a blocking library call, in a worker thread
  return "Processed " .. name
end

local function count_primes(limit) -- in a worker process
  local count = 0
  for n = 2, limit - 1 do
    local d = 2
    while d * d <= n and n % d ~= 0 do
      d = d + 1
    end
    if d * d > n then
      count = count + 1
    end
  end
  return count
end

local threads <close> = xf.lua_pool { workers = 2 }
local processes <close> = xf.process_pool { workers = 2 }
xf.run(function()
  local ran = false
  local beat = xf.spawn(function()
    ran = true
  end)
  local futures = { threads:submit(blocking_io, "report.pdf") }
  for i, limit in ipairs(LIMITS) do
    futures[i + 1] = processes:submit(count_primes, limit)
  end
  local results = xf.await(xf.gather(table.unpack(futures)))
  local meanwhile = ran -- before this task gave the loop a turn
  xf.await(beat)
  print("thread pool: " .. results[1])
  for i, limit in ipairs(LIMITS) do
    print(("process pool: %d primes below %d"):format(results[i + 1], limit))
  end
  print("the loop ran another task meanwhile: " .. (meanwhile and "True" or "False"))
end)
