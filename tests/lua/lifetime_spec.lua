-- Lifetime: the GC releases core references; closing a state with pending
-- work neither hangs nor crashes.
local xf = require "xfutures"
-- The live counters come from the tests' C module, not the binding.
local testlib = require "xfl_testlib"

local function settle()
  for _ = 1, 3 do
    collectgarbage "collect"
    xf.sleep(0.005)
  end
end

describe("the garbage collector", function()
  it("releases futures and their callbacks", function()
    settle()
    local h0, r0 = testlib.live()
    do
      for i = 1, 200 do
        local f = xf.future()
        f:on_done(function() end)
        if i % 2 == 0 then
          f:set_result { i, "x", { a = i } }
        end
      end
    end
    local h1, r1 = testlib.live()
    assert.is_true(h1 >= h0 + 200)
    settle()
    local h2, r2 = testlib.live()
    assert.are.equal(h0, h2)
    assert.are.equal(r0, r2)
  end)

  it("releases pools and tasks", function()
    settle()
    local h0, r0 = testlib.live()
    do
      local p = xf.lua_pool { workers = 1 }
      p:submit(function() return 1 end):result()
      local t = xf.thread_pool { max_workers = 1 }
      local done = xf.spawn(function() xf.sleep(0) return {} end)
      xf.run(done)
    end
    settle()
    local h2, r2 = testlib.live()
    assert.are.equal(h0, h2)
    assert.are.equal(r0, r2)
  end)
end)

describe("a Lua object held by the core", function()
  it("is released, and collected, once a pool thread drops it", function()
    local weak = setmetatable({}, { __mode = "k" })
    local h0, r0 = testlib.live()
    do
      local pool <close> = xf.lua_pool { workers = 1 }
      local obj = setmetatable({}, { __name = "held" })
      weak[obj] = true
      -- The worker sees an opaque handle and drops it on its own thread.
      local got = pool:submit(function(o) return type(o) end, obj):result(5)
      assert.are.equal("userdata", got)
    end
    settle()
    assert.is_nil(next(weak))
    local h1, r1 = testlib.live()
    assert.are.equal(h0, h1)
    assert.are.equal(r0, r1)
  end)

  it("of a worker's state may be dropped after that state has closed", function()
    local h0, r0 = testlib.live()
    -- The worker loads the module first: its state has a runtime of its own.
    local pool = xf.lua_pool { workers = 1, init = "require 'xfutures'" }
    local handle = pool:submit(function()
      return setmetatable({}, { __name = "worker's" })
    end):result(5)
    assert.are.equal("userdata", type(handle))
    -- The worker's thread ends and closes its state (and that state's loop).
    pool:shutdown { wait = true }
    pool = nil
    handle = nil
    settle()
    local h1, r1 = testlib.live()
    assert.are.equal(h0, h1)
    assert.are.equal(r0, r1)
  end)
end)

describe("closing the state", function()
  it("with pending work exits promptly and cleanly", function()
    local script = [[
      local xf = require "xfutures"
      local pool = xf.lua_pool { workers = 1 }
      pool:submit(function() local t = os.time() while os.time() - t < 1 do end end)
      for i = 1, 5 do pool:submit(function() return 1 end) end
      local f = xf.future()
      f:on_done(function() print("never") end)
      xf.spawn(function() xf.sleep(3600) end)
      xf.call_later(3600, function() print("never") end)
      local tp = xf.thread_pool { max_workers = 1 }
      tp:submit_native(xf.dlsym(nil, "usleep"), "int(uint32)", 100000)
      print("closing")
      os.exit(0, true)
    ]]
    local lua = os.getenv("XF_LUA") or "lua5.4"
    local t0 = os.time()
    local p = io.popen(lua .. " -e '" .. script:gsub("'", "'\\''") .. "' 2>&1")
    local out = p:read("a")
    local ok, how, code = p:close()
    assert.are.equal("closing\n", out)
    assert.is_true(ok)
    assert.are.equal(0, code)
    -- Far below the hour the timers would take, whatever the machine's load.
    assert.is_true(os.time() - t0 < 60)
  end)

  it("while a pool thread holds its objects exits cleanly", function()
    local script = [[
      local xf = require "xfutures"
      local pool = xf.lua_pool { workers = 1 }
      local objs = {}
      for i = 1, 20 do objs[i] = setmetatable({}, {}) end
      -- The job holds the objects (as opaque handles) while the state
      -- closes, which waits for it; a second one is still queued.
      for _ = 1, 2 do
        pool:submit(function(...)
          local t = os.clock()
          while os.clock() - t < 0.2 do end
          return select("#", ...)
        end, table.unpack(objs))
      end
      local t = xf.spawn(function() xf.sleep(3600) end)
      local f = xf.future()
      f:set_result(setmetatable({}, {}))
      print("closing")
    ]]
    local lua = os.getenv("XF_LUA") or "lua5.4"
    local p = io.popen(lua .. " -e '" .. script:gsub("'", "'\\''") .. "' 2>&1")
    local out = p:read("a")
    local ok, how, code = p:close()
    assert.are.equal("closing\n", out)
    assert.is_true(ok)
    assert.are.equal(0, code)
  end)
end)

describe("the production module", function()
  it("ships no test-only functions", function()
    local core = require "xfutures_core"
    assert.is_nil(core.roundtrip)
    assert.is_nil(core.live)
    assert.is_nil(core.internals)
    assert.is_nil(xf.live)
  end)
end)
