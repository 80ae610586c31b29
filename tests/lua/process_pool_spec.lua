-- The process pool: lua5.4 worker processes running xfutures_worker, over
-- the core's process pool. Rendezvous with a task go through FIFOs, read and
-- written by a lua_pool thread so that every wait is a future's bounded
-- :result(timeout); nothing here sleeps to synchronise.
local xf = require "xfutures"

local WAIT = 30 -- seconds: a bound for each wait, never reached when all is well

local function self_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  return math.tointeger(pid)
end

local PID = self_pid()

-- The output of a shell command, through a file: a popen pipe would be
-- counted among our descriptors, both its ends while the child starts.
local LISTING = os.tmpname()

local function shell(cmd)
  assert(os.execute("(" .. cmd .. ") > '" .. LISTING .. "' 2>&1"))
  local f = assert(io.open(LISTING))
  local out = f:read("a")
  f:close()
  return out
end

-- Our open descriptors.
local function fd_count()
  local text = shell("ls -l /proc/" .. PID .. "/fd")
  local n = 0
  for _ in text:gmatch("%->") do
    n = n + 1
  end
  return n, text
end

-- The pids of our child processes (of every thread: the workers are the
-- manager thread's), less the shell that lists them.
local function children()
  local out = shell("cat /proc/" .. PID .. "/task/*/children; echo; echo $$")
  local pids = {}
  for pid in out:gmatch("%d+") do
    pids[#pids + 1] = pid
  end
  local sh = table.remove(pids)
  local rest = {}
  for _, pid in ipairs(pids) do
    if pid ~= sh then
      rest[#rest + 1] = tonumber(pid)
    end
  end
  return rest
end

local function tmpdir()
  local p = assert(io.popen("mktemp -d"))
  local d = p:read("l")
  p:close()
  return d
end

local function mkfifo(path)
  assert(os.execute("mkfifo '" .. path .. "'"))
  return path
end

-- Threads that block on the FIFOs for the test.
local io_pool = xf.lua_pool { workers = 2 }

local function read_fifo(path)
  return io_pool:submit(function(p)
    local f = assert(io.open(p, "r"))
    local s = f:read("a")
    f:close()
    return s
  end, path)
end

local function write_fifo(path, text)
  return io_pool:submit(function(p, s)
    local f = assert(io.open(p, "w"))
    f:write(s)
    f:close()
    return true
  end, path, text)
end

-- A task that tells its pid through one FIFO, then waits on another until
-- released (or killed).
local function tell_and_wait(pidpath, gopath)
  local st = assert(io.open("/proc/self/stat"))
  local pid = st:read("n")
  st:close()
  local w = assert(io.open(pidpath, "w"))
  w:write(string.format("%d", pid))
  w:close()
  local r = assert(io.open(gopath, "r"))
  local s = r:read("a")
  r:close()
  return s
end

local function getpid_task()
  local st = assert(io.open("/proc/self/stat"))
  local pid = st:read("n")
  st:close()
  return math.tointeger(pid)
end

describe("the process pool", function()
  local dir

  before_each(function()
    dir = tmpdir()
  end)

  after_each(function()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  teardown(function()
    os.remove(LISTING)
    io_pool:shutdown { wait = true }
  end)

  it("returns values of each kind, integers staying integers", function()
    local pool <close> = xf.process_pool { workers = 2 }
    local function echo(v)
      return v
    end
    assert.is_nil(pool:submit(echo, nil):result(WAIT))
    assert.is_true(pool:submit(echo, true):result(WAIT))
    assert.is_false(pool:submit(echo, false):result(WAIT))
    local i = pool:submit(echo, 42):result(WAIT)
    assert.are.equal(42, i)
    assert.are.equal("integer", math.type(i))
    assert.are.equal("integer", math.type(pool:submit(echo, math.mininteger):result(WAIT)))
    local d = pool:submit(echo, 2.0):result(WAIT)
    assert.are.equal("float", math.type(d))
    assert.are.equal(2.0, d)
    assert.are.equal("héllo\0", pool:submit(echo, "héllo\0"):result(WAIT))
    assert.are.equal("\255\0\1", pool:submit(echo, "\255\0\1"):result(WAIT))
    local sum = pool:submit(function(a, b)
      return a + b
    end, 2, 3):result(WAIT)
    assert.are.equal(5, sum)
    assert.are.equal("integer", math.type(sum))
  end)

  it("carries lists and maps, nested, and nil arguments", function()
    local pool <close> = xf.process_pool { workers = 1 }
    local v = pool:submit(function(t)
      return { list = { 1, 2.5, "s", { true } }, map = t, [7] = "seven", empty = {} }
    end, { a = 1, b = { c = "d" } }):result(WAIT)
    assert.are.same({ list = { 1, 2.5, "s", { true } }, map = { a = 1, b = { c = "d" } },
      [7] = "seven", empty = {} }, v)
    assert.are.equal("integer", math.type(v.list[1]))
    local n = pool:submit(function(...)
      return { select("#", ...), (select(2, ...)) }
    end, nil, 2, nil):result(WAIT)
    assert.are.same({ 3, 2 }, n)
  end)

  it("brings a task's error back with its type, message and traceback", function()
    local pool <close> = xf.process_pool { workers = 1 }
    local ok, e = pcall(function()
      return pool:submit(function(m)
        error({ type = "ValueError", message = m })
      end, "bad input"):result(WAIT)
    end)
    assert.is_false(ok)
    assert.is_true(xf.is_error(e))
    assert.are.equal("ValueError", e.type)
    assert.are.equal("bad input", e.message)
    assert.is_string(e.traceback)
    ok, e = pcall(function()
      return pool:submit(function()
        error("plain text", 0)
      end):result(WAIT)
    end)
    assert.is_false(ok)
    assert.are.equal("LuaError", e.type)
    assert.are.equal("plain text", e.message)
    -- The worker goes on.
    assert.are.equal(1, pool:submit(function()
      return 1
    end):result(WAIT))
  end)

  it("fails only that task for a result that cannot cross", function()
    local pool <close> = xf.process_pool { workers = 1 }
    local ok, e = pcall(function()
      return pool:submit(function()
        return print
      end):result(WAIT)
    end)
    assert.is_false(ok)
    assert.are.equal("TypeError", e.type)
    assert.truthy(e.message:find("function", 1, true))
    ok, e = pcall(function()
      return pool:submit(function()
        return coroutine.create(print)
      end):result(WAIT)
    end)
    assert.is_false(ok)
    assert.truthy(e.message:find("coroutine", 1, true))
    assert.are.equal("ok", pool:submit(function()
      return "ok"
    end):result(WAIT))
    assert.is_false(pool:stats().broken)
  end)

  it("refuses at submit what cannot be sent", function()
    local pool <close> = xf.process_pool { workers = 1 }
    local up = 1
    local ok, e = pcall(pool.submit, pool, function()
      return up
    end)
    assert.is_false(ok)
    assert.truthy(tostring(e):find("upvalue 'up'", 1, true))
    ok, e = pcall(pool.submit, pool, function(f)
      return f
    end, print)
    assert.is_false(ok)
    assert.are.equal("TypeError", e.type)
    ok, e = pcall(pool.submit, pool, function(f)
      return f
    end, setmetatable({}, {}))
    assert.is_false(ok)
    assert.are.equal("TypeError", e.type)
    ok = pcall(pool.submit, pool, print)
    assert.is_false(ok)
    ok = pcall(pool.submit, pool, "no_colon")
    assert.is_false(ok)
  end)

  it("runs \"module:function\"", function()
    local pool <close> = xf.process_pool { workers = 1 }
    assert.are.equal(5, pool:submit("xfl_testmod:add", 2, 3):result(WAIT))
    assert.are.equal("ababab", pool:submit("string:rep", "ab", 3):result(WAIT))
    local ok, e = pcall(function()
      return pool:submit("xfl_testmod:fail", "from a module"):result(WAIT)
    end)
    assert.is_false(ok)
    assert.are.equal("ValueError", e.type)
    assert.are.equal("from a module", e.message)
    ok, e = pcall(function()
      return pool:submit("xfl_testmod:missing"):result(WAIT)
    end)
    assert.is_false(ok)
    assert.truthy(e.message:find("missing", 1, true))
  end)

  it("is awaitable in a coroutine", function()
    local pool <close> = xf.process_pool { workers = 2 }
    local v = xf.run(function()
      local a = pool:submit(function(x)
        return x * 2
      end, 21)
      local b = pool:submit(function(x)
        return x + 1
      end, 1)
      return xf.await(a) + xf.await(b)
    end)
    assert.are.equal(44, v)
  end)

  it("runs the initializer in each worker, and breaks on a failing one", function()
    local pool <close> = xf.process_pool {
      workers = 1,
      initializer = function(v)
        INITIALIZED = v
      end,
      initargs = { "yes" },
    }
    assert.are.equal("yes", pool:submit(function()
      return INITIALIZED
    end):result(WAIT))
    local bad <close> = xf.process_pool {
      workers = 1,
      forward_stderr = false,
      initializer = function()
        error({ type = "ValueError", message = "no init" })
      end,
    }
    local ok, e = pcall(function()
      return bad:submit(function()
        return 1
      end):result(WAIT)
    end)
    assert.is_false(ok)
    assert.are.equal("BrokenProcessPool", e.type)
    assert.truthy(e.message:find("no init", 1, true))
  end)

  it("fails the task of a worker killed with SIGKILL with BrokenProcessPool", function()
    local pool <close> = xf.process_pool { workers = 1, forward_stderr = false }
    local pidpath, gopath = mkfifo(dir .. "/pid"), mkfifo(dir .. "/go")
    local f = pool:submit(tell_and_wait, pidpath, gopath)
    local pid = math.tointeger(tonumber(read_fifo(pidpath):result(WAIT)))
    assert.is_truthy(pid)
    assert.is_true(os.execute("kill -KILL " .. pid))
    local ok, e = pcall(f.result, f, WAIT)
    assert.is_false(ok)
    assert.are.equal("BrokenProcessPool", e.type)
    assert.truthy(e.message:find(tostring(pid), 1, true))
    assert.is_true(pool:stats().broken)
    ok, e = pcall(pool.submit, pool, getpid_task)
    assert.is_false(ok)
    assert.are.equal("BrokenProcessPool", e.type)
    -- The death is counted once the manager is done with the worker, which
    -- may be after the future failed: read the counter after shutdown.
    pool:shutdown { wait = true }
    assert.are.equal(1, pool:stats().deaths)
  end)

  it("replaces a killed worker with on_worker_death = \"replace\"", function()
    local pool <close> = xf.process_pool {
      workers = 1, on_worker_death = "replace", forward_stderr = false }
    local pidpath, gopath = mkfifo(dir .. "/pid"), mkfifo(dir .. "/go")
    local f = pool:submit(tell_and_wait, pidpath, gopath)
    local after = pool:submit(getpid_task)
    local pid = math.tointeger(tonumber(read_fifo(pidpath):result(WAIT)))
    assert.is_true(os.execute("kill -KILL " .. pid))
    local ok, e = pcall(f.result, f, WAIT)
    assert.is_false(ok)
    assert.are.equal("BrokenProcessPool", e.type)
    local other = after:result(WAIT)
    assert.are.equal("integer", math.type(other))
    assert.are_not.equal(pid, other)
    assert.is_false(pool:stats().broken)
  end)

  it("counts the tasks of each worker", function()
    local pool = xf.process_pool { workers = 1 }
    local pid
    for _ = 1, 5 do
      pid = pool:submit(getpid_task):result(WAIT)
    end
    local per = pool:stats().per_worker
    assert.are.same({ { pid = pid, tasks_done = 5, running = 0 } }, per)
    pool:shutdown { wait = true }
  end)

  it("recycles workers after max_tasks_per_child", function()
    local pool = xf.process_pool { workers = 1, max_tasks_per_child = 2 }
    local pids = {}
    for i = 1, 5 do
      pids[i] = pool:submit(getpid_task):result(WAIT)
    end
    assert.are.equal(pids[1], pids[2])
    assert.are_not.equal(pids[2], pids[3])
    assert.are.equal(pids[3], pids[4])
    assert.are_not.equal(pids[4], pids[5])
    assert.are.equal(3, pool:stats().spawned)
    pool:shutdown { wait = true }
    local s = pool:stats()
    assert.is_true(s.retired >= 2)
    assert.are.equal(0, s.deaths)
    assert.are.equal(0, s.workers)
  end)

  it("cancels queued tasks on shutdown with cancel_futures", function()
    local pool = xf.process_pool { workers = 1 }
    local startpath, gopath = mkfifo(dir .. "/start"), mkfifo(dir .. "/go")
    local first = pool:submit(function(sp, gp)
      local w = assert(io.open(sp, "w"))
      w:write("started")
      w:close()
      local r = assert(io.open(gp, "r"))
      local s = r:read("a")
      r:close()
      return s
    end, startpath, gopath)
    local rest = {}
    for i = 1, 3 do
      rest[i] = pool:submit(function(x)
        return x
      end, i)
    end
    assert.are.equal("started", read_fifo(startpath):result(WAIT))
    pool:shutdown { wait = false, cancel_futures = true }
    for i = 1, 3 do
      assert.is_true(rest[i]:wait(WAIT))
      assert.is_true(rest[i]:cancelled())
    end
    assert.is_false(pcall(pool.submit, pool, getpid_task))
    assert.is_true(write_fifo(gopath, "go"):result(WAIT))
    assert.are.equal("go", first:result(WAIT))
    pool:shutdown { wait = true }
    assert.are.equal(0, pool:stats().workers)
  end)

  it("kills a task that runs past its timeout", function()
    local pool <close> = xf.process_pool { workers = 1, forward_stderr = false }
    local pidpath, gopath = mkfifo(dir .. "/pid"), mkfifo(dir .. "/go")
    -- The task blocks until it is killed: the timeout is sure to pass.
    local f = pool:submit_with({ timeout = 0.2 }, tell_and_wait, pidpath, gopath)
    read_fifo(pidpath):result(WAIT)
    local ok, e = pcall(f.result, f, WAIT)
    assert.is_false(ok)
    assert.is_true(xf.is_timeout(e))
    assert.are.equal(1, pool:submit(function()
      return 1
    end):result(WAIT))
    -- The same under the name the other languages use.
    local pid2, go2 = mkfifo(dir .. "/pid2"), mkfifo(dir .. "/go2")
    local g = pool:submit_with_timeout(0.2, tell_and_wait, pid2, go2)
    read_fifo(pid2):result(WAIT)
    ok, e = pcall(g.result, g, WAIT)
    assert.is_false(ok)
    assert.is_true(xf.is_timeout(e))
    assert.has_error(function()
      pool:submit_with_timeout(-1, tell_and_wait, pid2, go2)
    end)
  end)

  it("terminates and kills, leaving no child process and no descriptor", function()
    collectgarbage()
    local fds = fd_count()
    assert.are.same({}, children())
    do
      local pool = xf.process_pool { workers = 2, forward_stderr = false }
      local pidpath, gopath = mkfifo(dir .. "/pid"), mkfifo(dir .. "/go")
      local f = pool:submit(tell_and_wait, pidpath, gopath)
      assert.are.equal("integer", math.type(pool:submit(getpid_task):result(WAIT)))
      read_fifo(pidpath):result(WAIT)
      assert.is_true(#children() >= 1)
      pool:terminate(0.5)
      local ok, e = pcall(f.result, f, WAIT)
      assert.is_false(ok)
      assert.are.equal("BrokenProcessPool", e.type)
      assert.is_false(pcall(pool.submit, pool, getpid_task))
      pool:shutdown { wait = true }

      local other = xf.process_pool { workers = 1 }
      assert.are.equal(3, other:submit("xfl_testmod:add", 1, 2):result(WAIT))
      other:kill()
      other:shutdown { wait = true }
    end
    collectgarbage()
    collectgarbage()
    assert.are.same({}, children())
    local n, text = fd_count()
    if n ~= fds then
      io.stderr:write(text) -- which descriptor was left behind
    end
    assert.are.equal(fds, n)
  end)
end)
