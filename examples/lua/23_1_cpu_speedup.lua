-- CPU-bound work in a process pool (seed 004, example 23.1): four identical
-- workloads (the primes below 100000, counted the slow way), run one after
-- another in this process and then at once in a pool of four worker
-- processes, each a Lua interpreter of its own.
--
-- What is printed is what holds on any machine: the results, and that the
-- four pooled workloads ran at the same time in four worker processes. The
-- tasks prove the latter by meeting: after its work each task leaves a file
-- and waits until all four files exist, which only tasks running at the
-- same time can do, and a worker runs one task at a time, so four that meet
-- are four processes. The speed-up is not printed: on a loaded two-core
-- machine four processes need not be faster than one, so a printed "faster"
-- would be a guess or a line that changes from run to run. With
-- XF_EXAMPLE_TIMING set, the times and their ratio go to stderr.
--
-- A task crosses to its worker as string.dump of the function, without
-- upvalues: each task is self-contained and gets what it needs as arguments.
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

-- count_primes, then meet the other tasks: leave base.index and wait until
-- base.1 ... base.parties all exist. -1 when they did not come within 30
-- seconds (a bound that only ends a hang).
local function count_primes_and_meet(limit, base, index, parties)
  local xf = require "xfutures"
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
  assert(io.open(base .. "." .. index, "w")):close()
  local deadline = xf.time() + 30
  while xf.time() < deadline do
    local here = 0
    for i = 1, parties do
      local f = io.open(base .. "." .. i)
      if f then
        f:close()
        here = here + 1
      end
    end
    if here == parties then
      return count
    end
    xf.sleep(0.002)
  end
  return -1
end

local t0 = xf.time()
local counts = {}
for i = 1, N do
  counts[i] = count_primes(LIMIT)
end
local sequential = xf.time() - t0
print(("primes below %d, four times"):format(LIMIT))
print("sequential: " .. table.concat(counts, " "))

local base = os.tmpname() -- the meeting's files: base.1 ...
local pooled, met
do
  local pool <close> = xf.process_pool { workers = N }
  t0 = xf.time()
  local futures = {}
  for i = 1, N do
    futures[i] = pool:submit(count_primes_and_meet, LIMIT, base, i, N)
  end
  met = true
  for i = 1, N do
    counts[i] = futures[i]:result()
    met = met and counts[i] >= 0
  end
  pooled = xf.time() - t0
end
print("pool of 4 processes: " .. table.concat(counts, " "))
print("the four ran at the same time, in 4 worker processes: " .. (met and "True" or "False"))
for i = 1, N do
  os.remove(base .. "." .. i)
end
os.remove(base)
if os.getenv("XF_EXAMPLE_TIMING") then
  io.stderr:write(("sequential %.3f s, pool %.3f s, speed-up %.2fx\n"):format(sequential,
    pooled, sequential / pooled))
end
