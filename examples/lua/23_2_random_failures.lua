-- Tasks that randomly fail, in a process pool (seed 004, example 23.2):
-- each future gets a done callback, registered before its task is done, and
-- the futures are also taken as they complete (as_completed); both see the
-- same results and the same errors, raised in a worker process and raised
-- again here.
--
-- The randomness is a seeded generator, a small LCG (state = 1664525 *
-- state + 1013904223 mod 2^32, seed 23, a draw is (state >> 16) % 100) that
-- every language of the tour computes alike; the draws are made here and
-- handed to the tasks, and a task fails when its draw is below 30. What
-- finishes first depends on the machine, so nothing is printed in that
-- order: the callbacks and the as_completed loop note what they saw, and
-- the program prints it in task order.
local xf = require "xfutures"

local N = 10

local function lcg_draws(state, count)
  local draws = {}
  for i = 1, count do
    state = (1664525 * state + 1013904223) & 0xFFFFFFFF
    draws[i] = (state >> 16) % 100
  end
  return draws
end

-- Runs in a worker: an error table with a type and a message crosses back
-- as such.
local function risky_task(n, draw)
  if draw < 30 then
    error({ type = "ValueError", message = ("task %d failed"):format(n) })
  end
  return n * n
end

-- What a finished future holds, as text.
local function outcome(future)
  local ok, r = pcall(future.result, future)
  return ok and ("result %d"):format(r) or ('error "%s"'):format(r.message)
end

local draws = lcg_draws(23, N)
local by_callback, by_as_completed, called, yielded = {}, {}, 0, 0
local all_called = xf.future()
do
  local pool <close> = xf.process_pool { workers = 4 }
  local futures, task_of = {}, {}
  for n = 1, N do
    local future = pool:submit(risky_task, n, draws[n])
    future:on_done(function(f) -- on this state's thread, as the task finishes
      by_callback[n] = outcome(f)
      called = called + 1
      if called == N then
        all_called:set_result(true)
      end
    end)
    futures[n], task_of[future] = future, n
  end
  for future in xf.as_completed(futures) do
    local n = task_of[future]
    local ok, r = pcall(future.result, future)
    by_as_completed[n] = ok and ("result %d"):format(r) or ('error "%s"'):format(r.message)
    yielded = yielded + 1
  end
  all_called:result()
end

local agree = true
local errors = { callback = 0, as_completed = 0 }
for n = 1, N do
  print(("task %d (draw %d): %s"):format(n, draws[n], by_as_completed[n]))
  agree = agree and by_callback[n] == by_as_completed[n]
  if by_callback[n]:find("^error") then
    errors.callback = errors.callback + 1
  end
  if by_as_completed[n]:find("^error") then
    errors.as_completed = errors.as_completed + 1
  end
end
print(("done callbacks: %d called, %d saw an exception"):format(called, errors.callback))
print(("as_completed: %d yielded, %d raised"):format(yielded, errors.as_completed))
print("callbacks and as_completed agree: " .. (agree and "True" or "False"))
