-- The right thread: callbacks and resumptions run on this state's thread,
-- whichever thread finishes the future; errors in callbacks are reported.
local xf = require "xfutures"

describe("callbacks", function()
  local usleep = assert(xf.dlsym(nil, "usleep"))

  it("run on the state's thread when a pool thread finishes the future", function()
    local pool <close> = xf.thread_pool { max_workers = 2 }
    local main = xf.thread_id()
    local where = {}
    local fs = {}
    for i = 1, 4 do
      fs[i] = pool:submit_native(usleep, "int(uint32)", 5000 * i)
      fs[i]:on_done(function() where[#where + 1] = xf.thread_id() end)
    end
    xf.run(function() xf.await(xf.gather(table.unpack(fs))) xf.sleep(0.01) end)
    assert.are.equal(4, #where)
    for _, id in ipairs(where) do
      assert.are.equal(main, id)
    end
  end)

  it("resume tasks on the state's thread after a worker finishes", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local main = xf.thread_id()
    local worker, after = xf.run(function()
      local w = xf.await(pool:submit("xfl_testmod:where"))
      return w, xf.thread_id()
    end)
    local w = pool:submit("xfl_testmod:where"):result()
    assert.are_not.equal(main, w)
    assert.are.equal(main, xf.run(function()
      xf.await(pool:submit("xfl_testmod:where"))
      return xf.thread_id()
    end))
  end)

  it("send their errors to the exception handler with a traceback", function()
    local got = {}
    xf.set_exception_handler(function(message, err)
      got[#got + 1] = { message, err }
    end)
    local f = xf.future()
    f:on_done(function() error("callback broke") end)
    f:set_result(1)
    xf.sleep(0.01)
    xf.set_exception_handler(nil)
    assert.are.equal(1, #got)
    assert.matches("done callback", got[1][1])
    assert.matches("callback broke", got[1][2].message)
    assert.matches("stack traceback", got[1][2].traceback)
  end)

  it("survive a failing exception handler", function()
    xf.set_exception_handler(function() error("handler broke too") end)
    local f = xf.future()
    f:on_done(function() error("callback broke") end)
    f:set_result(1)
    xf.sleep(0.01)
    xf.set_exception_handler(nil)
    assert.is_true(f:done())
  end)
end)
