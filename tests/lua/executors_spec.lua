-- Executors: the native thread pool and the pool of Lua states.
local xf = require "xfutures"

describe("the thread pool", function()
  local usleep = assert(xf.dlsym(nil, "usleep"))
  local labs = assert(xf.dlsym(nil, "labs"))

  it("runs native functions and returns integers", function()
    local pool <close> = xf.thread_pool { max_workers = 2 }
    local f = pool:submit_native(labs, "int64(int64)", -7)
    assert.are.equal(7, f:result())
    assert.are.equal("integer", math.type(f:result()))
  end)

  it("reports results as they complete", function()
    -- Sleeps of different lengths alone do not order the completions on a
    -- busy machine, so each job's future also waits until the result before
    -- it (2, then 3, then 1) has been handed out: the order is the test's,
    -- and as_completed must report each completion as it happens.
    local pool <close> = xf.thread_pool { max_workers = 4 }
    local handed = { xf.future(), xf.future(), xf.future() }
    local after = { [1] = handed[3], [3] = handed[2] }
    local fs, ids = {}, {}
    for i, us in ipairs { 60000, 20000, 40000 } do
      local job = pool:submit_native(usleep, "int(uint32)", us)
      fs[i] = after[i] and xf.gather(job, after[i]) or job
      ids[fs[i]] = i
    end
    local order = {}
    for f in xf.as_completed(fs) do
      order[#order + 1] = ids[f]
      handed[ids[f]]:set_result(true)
    end
    assert.are.same({ 2, 3, 1 }, order)
  end)

  it("rejects bad calls with clear errors", function()
    local pool <close> = xf.thread_pool { max_workers = 1 }
    local ok, e = pcall(pool.submit_native, pool, labs, "int64(int64)")
    assert.is_false(ok)
    assert.matches("number of arguments", e.message)
    ok, e = pcall(pool.submit_native, pool, labs, "int64(int33)", 1)
    assert.is_false(ok)
    assert.matches("signature", e.message)
    ok, e = pcall(pool.submit_native, pool, labs, "int64(int64)", "x")
    assert.is_false(ok)
    assert.are.equal("TypeError", e.type)
    assert.has_error(function() pool:submit_native("labs", "int64(int64)", 1) end)
    local none, why = xf.dlsym(nil, "no_such_symbol_here")
    assert.is_nil(none)
    assert.matches("no_such_symbol_here", why)
  end)

  it("refuses work after shutdown and can cancel queued futures", function()
    local pool = xf.thread_pool { max_workers = 1 }
    -- running holds the only worker until this state runs its loop (which
    -- answers the callback), so queued is still queued at the shutdown.
    local hold <close> = xf.callback("int32()", function() return 0 end)
    local running = pool:submit_native(hold, hold.signature)
    local deadline = xf.time() + 30 -- only ends a hang
    while running:state() == "pending" and xf.time() < deadline do
    end
    local queued = pool:submit_native(usleep, "int(uint32)", 50000)
    -- Not wait = true: that wait would not run the loop that running needs.
    pool:shutdown { wait = false, cancel_futures = true }
    assert.is_true(queued:cancelled())
    assert.are.equal(0, running:result())
    local ok, e = pcall(pool.submit_native, pool, usleep, "int(uint32)", 1)
    assert.is_false(ok)
    assert.are.equal(xf.core.ESHUTDOWN, e.code)
  end)

  it("shuts down at the end of a <close> scope", function()
    local f
    do
      local pool <close> = xf.thread_pool { max_workers = 1 }
      f = pool:submit_native(usleep, "int(uint32)", 20000)
    end
    assert.is_true(f:done())
  end)

  it("can be awaited from a task", function()
    local pool <close> = xf.thread_pool { max_workers = 2 }
    local r = xf.run(function()
      return xf.await(xf.gather(pool:submit_native(labs, "int64(int64)", -1),
        pool:submit_native(labs, "int64(int64)", -2)))
    end)
    assert.are.same({ 1, 2 }, r)
  end)
end)

describe("the Lua-state pool", function()
  it("runs a function in another state with values as arguments", function()
    local pool <close> = xf.lua_pool { workers = 2 }
    local f = pool:submit(function(a, b, t)
      return { a + b, #t, math.type(a), string.format("%q", "x") }
    end, 2, 3, { 1, 2, 3 })
    local r = f:result()
    assert.are.same({ 5, 3, "integer", '"x"' }, r)
    assert.are.equal("\0\255", pool:submit(function(s) return s end, "\0\255"):result())
  end)

  it("brings back every value the function returns", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local function pack(...) return { n = select("#", ...), ... } end
    assert.are.same({ n = 3, 1, nil, "x" },
      pack(pool:submit(function() return 1, nil, "x" end):result(5)))
    assert.are.same({ n = 2, { 1, 2 }, { a = 1 } },
      pack(pool:submit(function() return { 1, 2 }, { a = 1 } end):result(5)))
    -- One value, a list, stays one value; none is nil.
    assert.are.same({ n = 1, { 1, 2 } }, pack(pool:submit(function() return { 1, 2 } end):result(5)))
    assert.are.same({ n = 1 }, pack(pool:submit(function() end):result(5)))
    assert.are.same({ n = 2, 7, 8 }, xf.run(function()
      return pack(xf.await(pool:submit(function(a) return a, a + 1 end, 7)))
    end))
    assert.are.same({ n = 2, 9, "m" }, pack(pool:submit("xfl_testmod:two", 9):result(5)))
  end)

  it("runs a module's function by name", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    assert.are.equal(9, pool:submit("xfl_testmod:add", 4, 5):result())
    assert.are.equal(3, pool:submit("xfl_testmod.add", 1, 2):result())
    local ok, e = pcall(pool:submit("xfl_testmod:missing").result)
    assert.is_false(ok)
  end)

  it("brings errors back with message and traceback", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local f = pool:submit(function() error("worker failed") end)
    local e = f:error()
    assert.are.equal("LuaError", e.type)
    assert.matches("worker failed", e.message)
    assert.matches("stack traceback", e.traceback)
    e = pool:submit("xfl_testmod:fail", "bad value"):error()
    assert.are.equal("ValueError", e.type)
    assert.are.equal("bad value", e.message)
  end)

  it("refuses functions with upvalues and values it cannot send", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local up = 1
    assert.has_error(function() pool:submit(function() return up end) end)
    assert.has_error(function() pool:submit(print) end)
    assert.has_error(function() pool:submit(42) end)
    local e = pool:submit(function() return print end):error()
    assert.are.equal("TypeError", e.type)
  end)

  it("hands this state's objects back as the same objects", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local obj = setmetatable({ secret = true }, {})
    local back = pool:submit(function(o) return { o, type(o) } end, obj):result()
    assert.are.equal(obj, back[1])
    assert.are.equal("userdata", back[2])
  end)

  it("hands plain tables over as data", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local back = pool:submit(function(t) return { t.secret, type(t) } end, { secret = true })
    assert.are.same({ true, "table" }, back:result())
  end)

  it("runs two CPU-bound tasks on two workers at once", function()
    local pool <close> = xf.lua_pool { workers = 2 }
    -- Each task says it has started and then waits for the other to start:
    -- both meet only if they run at once. The wait's bound only ends a hang.
    local function spin(mine, other)
      local x = require "xfutures"
      x.future_from_handle(mine):set_result(true)
      local met = x.future_from_handle(other):wait(30)
      local n = 0
      for i = 1, 10 ^ 6 do
        n = n + i % 7
      end
      return { met, x.thread_id(), n }
    end
    local started_a, started_b = xf.future(), xf.future()
    local a = pool:submit(spin, started_a:handle(), started_b:handle())
    local b = pool:submit(spin, started_b:handle(), started_a:handle())
    local ra, rb = a:result(), b:result()
    assert.is_true(ra[1])
    assert.is_true(rb[1])
    assert.are_not.equal(ra[2], rb[2])
    assert.are_not.equal(xf.thread_id(), ra[2])
  end)

  it("offloads blocking work with to_thread", function()
    local r = xf.run(function()
      local function parallelize(x)
        local total = 0
        for i = 0, x - 1 do
          for j = 0, x - 1 do
            total = total + i + j
          end
        end
        return total
      end
      return xf.await(xf.gather(xf.to_thread(parallelize, 1), xf.to_thread(parallelize, 10),
        xf.to_thread(parallelize, 100)))
    end)
    assert.are.same({ 0, 900, 990000 }, r)
  end)
end)
