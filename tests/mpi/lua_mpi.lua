-- The MPI executor from Lua: run as
--   mpirun -n 3 lua5.4 tests/mpi/lua_mpi.lua        (SPMD)
--   mpirun -n 1 lua5.4 tests/mpi/lua_mpi.lua        (spawn: 2 workers)
-- Every rank runs this file; rank 0 checks results, errors, many tasks and
-- shutdown, the other ranks serve. Prints "lua_mpi: ok" on rank 0.
local xf = require "xfutures"

local function check(cond, what)
  if not cond then
    error("lua_mpi: " .. what, 2)
  end
end

local function square(x) return x * x end
local function fail(msg) error(msg) end
local function pid()
  local f = io.open("/proc/self/stat")
  local s = f:read("l")
  f:close()
  return tonumber(s:match("^(%d+)"))
end

-- Results and errors.
local pool = xf.mpi_pool { workers = 2 }
if not pool then return end -- a worker rank: it served rank 0
check(pool:submit(square, 7):result(60) == 49, "a result")
check(math.type(pool:submit(square, 7):result(60)) == "integer", "integers stay integers")
local ok, err = pcall(function() return pool:submit(fail, "boom"):result(60) end)
check(not ok and tostring(err.message or err):find("boom"), "an error: " .. tostring(err))
check(pool:submit(pid):result(60) ~= pid(), "another process")
-- Many tasks.
local fs = {}
for i = 1, 300 do fs[i] = pool:submit(square, i) end
local sum = 0
for i = 1, 300 do sum = sum + fs[i]:result(60) end
check(sum == 300 * 301 * 601 // 6, "many tasks")
check(pool:stats().completed >= 303, "stats")
-- Shutdown with cancel: every future ends.
for i = 1, 100 do fs[i] = pool:submit(square, i) end
pool:shutdown { wait = true, cancel_futures = true }
for i = 1, 100 do
  check(fs[i]:done(), "done after shutdown")
  check(fs[i]:cancelled() or fs[i]:result(0) == i * i, "cancelled or a result")
end
check(not pcall(function() return pool:submit(square, 1) end), "submit after shutdown")
print("lua_mpi: ok")
