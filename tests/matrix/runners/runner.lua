--- The Lua runner of the scenario matrix.
--
--   lua5.4 runner.lua SCENARIO.json
--
-- Runs one scenario through the public API of require "xfutures" and prints
-- one JSON line with the observations, one per step, in the shared result
-- format (tests/matrix/README.md). This state's thread owns the loop: its
-- callbacks run here, while a step waits or settles. The scenario is read
-- with dkjson.
local json = require "dkjson"
local xf = require "xfutures"

local MAIN = xf.thread_id()
local usleep = xf.dlsym(nil, "usleep")
local NA = {}

local function not_available(reason)
  error(setmetatable({ reason = reason }, NA), 0)
end

local function array(t)
  return setmetatable(t, { __jsontype = "array" })
end

local SPECIAL_DOUBLES = { nan = 0.0 / 0.0, inf = math.huge, ["-inf"] = -math.huge, ["-0"] = -0.0 }

local function decode(v)
  if v == json.null then
    return nil
  elseif type(v) == "table" then
    if v.double then
      return SPECIAL_DOUBLES[v.double] or v.double + 0.0
    elseif v.int then
      return math.tointeger(v.int) or error("not an int64: " .. v.int)
    elseif v.bytes then
      return xf.bytes((v.bytes:gsub("..", function(h) return string.char(tonumber(h, 16)) end)))
    elseif v.map then
      local out = {}
      for _, kv in ipairs(v.map) do
        out[decode(kv[1])] = decode(kv[2])
      end
      return out
    elseif v.pointer ~= nil then
      return xf.null
    elseif v.opaque then
      -- A function cannot be data: it crosses as an opaque handle.
      local tag = v.opaque
      return function() return tag end
    end
    local out = {}
    for i, x in ipairs(v) do
      out[i] = decode(x)
    end
    return out
  end
  return v
end

local function encode_error(e)
  if xf.is_cancelled(e) or e.type == "CancelledError" then
    return { cancelled = true }
  elseif e.type == "TimeoutError" then
    return { error = { type = "TimeoutError" } }
  end
  return { error = { type = e.type, message = e.message } }
end

local function encode(v)
  if v == nil then
    return json.null
  elseif math.type(v) == "integer" and (v > 2 ^ 53 - 1 or v < -(2 ^ 53 - 1)) then
    return { int = string.format("%d", v) }
  elseif math.type(v) == "float" then
    if v ~= v then
      return { double = "nan" }
    elseif v == math.huge or v == -math.huge then
      return { double = v > 0 and "inf" or "-inf" }
    elseif v == 0 and 1 / v < 0 then
      return { double = "-0" }
    end
    return { double = v }
  elseif type(v) == "string" and not utf8.len(v) then
    return { bytes = (v:gsub(".", function(c) return string.format("%02x", c:byte()) end)) }
  elseif xf.is_error(v) then
    return encode_error(v)
  elseif type(v) == "table" then
    local n = 0
    for _ in pairs(v) do
      n = n + 1
    end
    if n ~= #v then
      -- A map: its pairs in the order the binding makes maps in (numbers,
      -- then strings, then booleans).
      local keys = {}
      for k in pairs(v) do
        keys[#keys + 1] = k
      end
      local rank = { number = 0, string = 1, boolean = 2 }
      table.sort(keys, function(a, b)
        if type(a) ~= type(b) then
          return rank[type(a)] < rank[type(b)]
        elseif type(a) == "boolean" then
          return not a and b
        end
        return a < b
      end)
      local out = array {}
      for i, k in ipairs(keys) do
        out[i] = array { encode(k), encode(v[k]) }
      end
      return { map = out }
    end
    local out = array {}
    for i = 1, #v do
      out[i] = encode(v[i])
    end
    return out
  elseif type(v) == "function" or type(v) == "userdata" or type(v) == "thread" then
    return { object = type(v) }
  end
  return v
end

local futures, pools, timers, cbs, log = {}, {}, {}, {}, array {}

local function F(name)
  return futures[name] or error("unknown future " .. tostring(name))
end

local function list_of(names)
  local out = {}
  for i, n in ipairs(names) do
    out[i] = F(n)
  end
  return out
end

local function callback(fname, tag)
  local key = fname .. "/" .. tag
  cbs[key] = cbs[key] or function()
    log[#log + 1] = xf.thread_id() == MAIN and tag or tag .. "@other-thread"
  end
  return cbs[key]
end

-- Run the loop until f is done or timeout_ms passed.
local function settle_on(f, timeout_ms)
  if not f:done() then
    f:wait(timeout_ms and timeout_ms / 1000)
  end
end

local function outcome(f)
  if not f:done() then
    return { timeout = true }
  elseif f:cancelled() then
    return { cancelled = true }
  end
  local e = f:error()
  if e then
    return encode_error(e)
  end
  return { value = encode(f:result()) }
end

local function raised_state(ok, e)
  if ok then
    return "ok"
  elseif xf.is_error(e) and e.code == xf.core.ESTATE then
    return { raised = "InvalidStateError" }
  end
  error(e, 0)
end

local function submit(pool, ms)
  return pool:submit_native(usleep, "int32(uint32)", ms * 1000)
end

local ops = {}

function ops.future(s) futures[s.f] = xf.future() end

local set_values = {}

function ops.set_result(s)
  local value = decode(s.value)
  set_values[s.f] = value
  return raised_state(pcall(F(s.f).set_result, F(s.f), value))
end

function ops.core_repr(s)
  local kind, text = xf.core_repr(F(s.f))
  return array { kind, (text:gsub("object%(lua%)", "object(own)")) }
end

function ops.same_value(s)
  return rawequal(F(s.f):result(), set_values[s.f])
end

function ops.set_error(s)
  return raised_state(pcall(F(s.f).set_error, F(s.f), { type = s.type, message = s.message }))
end

function ops.cancel(s) return F(s.f):cancel() end

function ops.state(s) return F(s.f):state() end

function ops.outcome(s)
  settle_on(F(s.f), s.timeout_ms)
  return outcome(F(s.f))
end

function ops.error_type(s)
  settle_on(F(s.f), 2000)
  return F(s.f):error().type
end

function ops.add_callback(s) F(s.f):on_done(callback(s.f, s.tag)) end

function ops.remove_callback(s) return F(s.f):remove_on_done(callback(s.f, s.tag)) end

function ops.settle(s) xf.sleep(s.ms / 1000) end

function ops.log()
  local out = log
  log = array {}
  return out
end

function ops.pool(s)
  pools[s.p] = xf.thread_pool { max_workers = s.workers, max_queue = s.max_queue,
    queue_policy = s.policy }
end

function ops.submit(s)
  local ok, f = pcall(submit, pools[s.p], s.sleep_ms)
  if not ok then
    if xf.is_error(f) and f.code == xf.core.ESHUTDOWN then
      return { raised = "ShutdownError" }
    end
    if xf.is_queue_full(f) then
      return { raised = "QueueFull" }
    end
    error(f, 0)
  end
  futures[s.f] = f
end

function ops.shutdown(s)
  pools[s.p]:shutdown { wait = s.wait, cancel_futures = s.cancel_futures }
end

function ops.map(s)
  local fs = {}
  for i, ms in ipairs(s.sleeps_ms) do
    fs[i] = submit(pools[s.p], ms)
  end
  return encode(xf.gather(fs):result())
end

-- wait in Lua's terms: the combinator that says when the condition holds,
-- waited for with the timeout.
function ops.wait(s)
  local list = list_of(s.fs)
  local target
  if s.return_when == "FIRST_COMPLETED" then
    target = xf.first_completed(list, false)
  else
    list.return_exceptions = s.return_when == "ALL_COMPLETED"
    target = xf.gather(list)
  end
  settle_on(target, s.timeout_ms)
  local done, not_done = array {}, array {}
  for _, n in ipairs(s.fs) do
    local t = F(n):done() and done or not_done
    t[#t + 1] = n
  end
  table.sort(done)
  table.sort(not_done)
  return { done = done, not_done = not_done }
end

function ops.as_completed(s)
  local names = {}
  for _, n in ipairs(s.fs) do
    names[F(n)] = n
  end
  local order = array {}
  local ok, e = pcall(function()
    for f in xf.as_completed(list_of(s.fs), s.timeout_ms and s.timeout_ms / 1000) do
      order[#order + 1] = names[f]
    end
  end)
  if not ok then
    if not xf.is_timeout(e) then
      error(e, 0)
    end
    order[#order + 1] = "TimeoutError"
  end
  return order
end

function ops.gather(s)
  local list = list_of(s.fs)
  list.return_exceptions = s.collect
  futures[s.f] = xf.gather(list)
end

function ops.first(s) futures[s.f] = xf.first_completed(list_of(s.fs), s.cancel_rest) end

function ops.any(s) futures[s.f] = xf.any(list_of(s.fs), s.cancel_rest) end

function ops.then_(s)
  local src, add = F(s.src), s.add
  futures[s.f] = xf.spawn(function()
    return xf.await(src) + add
  end)
end
ops["then"] = ops.then_

function ops.chain(s) xf.chain(F(s.src), F(s.dst)) end

function ops.shield(s) futures[s.f] = xf.shield(F(s.src)) end

function ops.timeout(s) futures[s.f] = xf.wait_for(F(s.src), s.timeout_ms / 1000) end

function ops.timer(s)
  local h = xf.call_later(s.ms / 1000, function()
    log[#log + 1] = s.tag
  end)
  if s.h then
    timers[s.h] = h
  end
end

function ops.cancel_timer(s) timers[s.h]:cancel() end

-- A Lua state has no threads of its own: the foreign thread is a worker of a
-- pool of Lua states, which adopts the future by its address.
local setters
function ops.thread_set(s)
  setters = setters or xf.lua_pool { workers = 1 }
  local f = F(s.f)
  pools["@setters"] = setters
  futures[s.f .. "@setter"] = setters:submit(function(address, value, delay)
    local xf = require "xfutures"
    local fut = xf.future_from_handle(address)
    xf.sleep(delay)
    fut:set_result(value)
  end, f:handle(), decode(s.value), s.delay_ms / 1000)
end

function ops.closure_call(s)
  local tag = s.tag
  local cb = xf.callback("int64(int64, int64)", function(a, b)
    log[#log + 1] = xf.thread_id() == MAIN and tag or tag .. "@other-thread"
    return a + b
  end)
  futures[s.f] = pools[s.p]:submit_native(cb, cb.signature, table.unpack(s.args))
end

function ops.task(s)
  local awaited = list_of(s.awaits)
  futures[s.f] = xf.spawn(function()
    local got = {}
    for i, f in ipairs(awaited) do
      got[i] = xf.await(f)
    end
    return got
  end)
end

-- The named tasks of the process-pool scenarios. A task crosses to its
-- worker as dumped bytecode, so each is self-contained: no upvalues.
local process_tasks = {
  add = function(a, b) return a + b end,
  fail = function(message) error({ type = "ValueError", message = message }) end,
  pid = function()
    local st = assert(io.open("/proc/self/stat"))
    local pid = st:read("n")
    st:close()
    return math.tointeger(pid)
  end,
  -- Tell the worker's pid through the FIFO ready, then wait until the runner
  -- writes to the FIFO go and closes it.
  block = function(ready, go)
    local st = assert(io.open("/proc/self/stat"))
    local pid = st:read("n")
    st:close()
    local w = assert(io.open(ready, "w"))
    w:write(string.format("%d", pid))
    w:close()
    local r = assert(io.open(go, "r"))
    r:read("a")
    r:close()
    return 0
  end,
}

local blocked, fifo_dir = {}, nil

function ops.process_pool(s)
  pools[s.p] = xf.process_pool { workers = s.workers, max_tasks_per_child = s.max_tasks_per_child,
    on_worker_death = s.on_worker_death, forward_stderr = false }
end

function ops.process_submit(s)
  local args
  if s.task == "add" then
    args = s.args
  elseif s.task == "fail" then
    args = { s.message }
  elseif s.task == "pid" then
    args = {}
  elseif s.task == "block" then
    if not fifo_dir then
      local p = assert(io.popen("mktemp -d /tmp/xf-matrix-XXXXXX"))
      fifo_dir = p:read("l")
      p:close()
    end
    local b = { ready = fifo_dir .. "/" .. s.f .. ".ready", go = fifo_dir .. "/" .. s.f .. ".go" }
    assert(os.execute("mkfifo '" .. b.ready .. "' '" .. b.go .. "'"))
    blocked[s.f] = b
    args = { b.ready, b.go }
  else
    error("unknown task " .. tostring(s.task))
  end
  local fn = process_tasks[s.task]
  local pool = pools[s.p]
  local ok, f = pcall(pool.submit, pool, fn, table.unpack(args))
  if not ok then
    if xf.is_error(f) and f.type == "BrokenProcessPool" then
      return { raised = "BrokenProcessPool" }
    end
    if xf.is_error(f) and f.code == xf.core.ESHUTDOWN then
      return { raised = "ShutdownError" }
    end
    error(f, 0)
  end
  futures[s.f] = f
end

function ops.process_running(s)
  local b = blocked[s.f]
  local r = assert(io.open(b.ready, "r"))
  b.pid = math.tointeger(tonumber(r:read("a")))
  r:close()
end

function ops.process_release(s)
  local w = assert(io.open(blocked[s.f].go, "w"))
  w:write("go")
  w:close()
end

function ops.process_kill(s)
  assert(os.execute("kill -KILL " .. blocked[s.f].pid))
end

function ops.same_worker(s)
  return F(s.f):result(10) == F(s.g):result(10)
end

local function run(scenario)
  local obs = array {}
  for i, s in ipairs(scenario.steps) do
    local op = ops[s.op] or error("unknown op " .. tostring(s.op))
    local o = op(s)
    obs[i] = o == nil and "ok" or o
  end
  for _, p in pairs(pools) do
    p:shutdown { wait = true, cancel_futures = true }
  end
  if fifo_dir then
    os.execute("rm -rf '" .. fifo_dir .. "'")
  end
  return obs
end

local fh = assert(io.open(arg[1], "r"))
local scenario = assert(json.decode(fh:read("a"), 1, json.null))
fh:close()
local ok, obs = pcall(run, scenario)
local result
if ok then
  result = { status = "ran", obs = obs }
elseif getmetatable(obs) == NA then
  result = { status = "na", reason = obs.reason }
else
  result = { status = "error", error = tostring(obs) }
end
io.write(json.encode(result), "\n")
os.exit(result.status == "error" and 1 or 0)
