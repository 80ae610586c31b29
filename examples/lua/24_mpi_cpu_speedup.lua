-- CPU-bound work on the ranks of an MPI job (seed 004's four identical
-- workloads, past one machine): the primes below 100000, counted the slow
-- way, four times in this process and then on the worker ranks of an MPI
-- executor. Run it under MPI, here as the tour does:
--
--   mpirun -n 3 lua5.4 examples/lua/24_mpi_cpu_speedup.lua
--
-- or under Slurm as `srun -n 3 ...`. Every rank runs this file: rank 0 gets
-- the pool from xf.mpi_pool, every other rank serves its tasks inside that
-- call until rank 0 shuts it down, and then gets nil and leaves.
--
-- What is printed holds on any machine: the results and the number of
-- worker ranks. The speed-up is not printed, since on a loaded two-core
-- machine it changes from run to run; with XF_EXAMPLE_TIMING set, the times
-- and their ratio go to stderr.
local xf = require "xfutures"

local LIMIT, N = 100000, 4

local function count_primes(limit)
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

if not xf.mpi_available() then
  -- Said once, by the first process of the job (or the only one).
  if (os.getenv("OMPI_COMM_WORLD_RANK") or "0") == "0" then
    print("this build of xfutures has no MPI")
  end
  return
end
local pool = xf.mpi_pool {}
if not pool then
  return -- a worker rank: it served rank 0 until the pool was shut down
end

local t0 = os.clock()
local counts = {}
for i = 1, N do
  counts[i] = count_primes(LIMIT)
end
local sequential = os.clock() - t0
print("primes below " .. LIMIT .. ", four times")
print("sequential: " .. table.concat(counts, " "))

local w0 = os.time()
local futures = {}
for i = 1, N do
  futures[i] = pool:submit(count_primes, LIMIT)
end
for i = 1, N do
  counts[i] = futures[i]:result()
end
print(string.format("MPI executor, %d worker ranks: %s", pool:stats().max_workers,
  table.concat(counts, " ")))
pool:shutdown { wait = true }
if os.getenv("XF_EXAMPLE_TIMING") then
  io.stderr:write(string.format("sequential %.3f s (CPU), MPI about %d s\n", sequential,
    os.time() - w0))
end
