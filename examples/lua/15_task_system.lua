-- A small distributed-style task system (seed 003): tasks are submitted
-- with a future each, worker tasks take unassigned tasks and resolve their
-- futures, and the caller gathers the results in submission order.
local xf = require "xfutures"

local System = {}
System.__index = System

local function new_system()
  return setmetatable({ tasks = {}, next_id = 0, workers = {} }, System)
end

function System:submit_task(work_function, ...)
  local task_id = self.next_id
  self.next_id = self.next_id + 1
  local future = xf.future()
  self.tasks[#self.tasks + 1] = { id = task_id, future = future, fn = work_function,
    args = table.pack(...) }
  print("Submitted task " .. task_id)
  return task_id, future
end

function System:start_worker(worker_id)
  while true do
    local task
    for _, t in ipairs(self.tasks) do
      if not t.assigned then
        task = t
        break
      end
    end
    if not task then
      xf.sleep(0.005) -- nothing to do: look again soon
    else
      task.assigned = worker_id
      xf.sleep(0.01 * (task.id % 3 + 1)) -- variable processing time
      local ok, r = pcall(task.fn, table.unpack(task.args, 1, task.args.n))
      if ok then
        task.future:set_result(r)
      else
        task.future:set_error(r)
      end
      for i, t in ipairs(self.tasks) do
        if t == task then
          table.remove(self.tasks, i)
          break
        end
      end
    end
  end
end

function System:start(num_workers)
  for i = 0, num_workers - 1 do
    self.workers[#self.workers + 1] = xf.spawn(self.start_worker, self, "worker-" .. i)
  end
  print(("Started %d workers"):format(num_workers))
end

function System:stop()
  for _, w in ipairs(self.workers) do
    w:cancel()
  end
  xf.await(xf.gather { return_exceptions = true, table.unpack(self.workers) })
end

local function compute_task(x, y)
  return x * y
end

local function slow_task(name)
  xf.sleep(0.03)
  return ("Slow task %s completed"):format(name)
end

xf.run(function()
  local system = new_system()
  system:start(3)
  local futures = {}
  for i = 0, 5 do
    local _, future
    if i % 2 == 0 then
      _, future = system:submit_task(compute_task, i, i * 2)
    else
      _, future = system:submit_task(slow_task, "task-" .. i)
    end
    futures[#futures + 1] = future
  end
  local results = xf.await(xf.gather(table.unpack(futures)))
  print("All tasks completed!")
  for i, result in ipairs(results) do
    print(("Task %d result: %s"):format(i - 1, result))
  end
  system:stop()
end)
