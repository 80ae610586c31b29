-- Workloads 8 and 9 (Lua 5.4): the Lua binding against its anchors.
--
-- Each measurement runs xfutures and its anchors in this one process, each
-- repeated REPS times after a warm-up; the value is the median. Prints one
-- JSON line per measurement in the format of bench/bench.h (everything else
-- on stderr). Run by bench/run.py with lua5.4 and LUA_PATH/LUA_CPATH set to
-- the binding's build directory and to <build>/bench/lib (the anchor module
-- xfbench_noop); --quick (or XF_BENCH_QUICK=1) shrinks every size.
--
--   lua_call      a binding call, fut:done() on a finished future (the Lua
--                 method and core.future_state), against a plain C function
--                 of the module xfbench_noop taking the same argument.
--   crossing_lua  a no-op call into the core, xfutures_core.version(),
--                 against xfbench_noop.version() (a C function returning a
--                 constant string).
--   lua_pool      K calls of a CPU-bound Lua function on xf.lua_pool with 2
--                 workers (one Lua state each), against the same calls made
--                 sequentially in this state.
--   lua_timers    N one-shot timers of 0-3 ms started in a row, then run
--                 until all have fired: xf.call_later inside xf.run, against
--                 lua-luv's uv.new_timer():start() + uv.run() (libuv). Without
--                 luv, a plain coroutine timer loop (a sorted queue of
--                 sleeping coroutines) is the anchor.

local xf = require "xfutures"
local core = require "xfutures_core"
local ok_noop, noop = pcall(require, "xfbench_noop")
local ANCHOR = "xfbench_noop.%s(), built in bench/lua"
if not ok_noop then
  -- Not built (no liblua5.4-dev): C functions of Lua's own library instead.
  io.stderr:write("lua_bench: xfbench_noop not found; anchoring on type/math.type\n")
  noop = { noop = type, version = math.type }
  ANCHOR = "%s: xfbench_noop missing, a C function of Lua's library instead"
end

local QUICK = false
for _, a in ipairs(arg or {}) do
  if a == "--quick" then QUICK = true end
end
local env_quick = os.getenv("XF_BENCH_QUICK")
if env_quick and env_quick ~= "" and env_quick ~= "0" then QUICK = true end
local REPS = QUICK and 3 or 5
local ONLY = os.getenv("XF_BENCH_ONLY") or ""

local function size(full, quick) return QUICK and quick or full end
local function selected(impl) return ONLY == "" or impl:find(ONLY, 1, true) ~= nil end
local now = core.now -- monotonic ns

local function jstr(s)
  return '"' .. tostring(s):gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function emit(workload, impl, unit, vals, n, extra)
  table.sort(vals)
  local m = #vals
  local median = m % 2 == 1 and vals[(m + 1) // 2] or (vals[m // 2] + vals[m // 2 + 1]) / 2
  local parts = {
    '"program": "lua_bench"', '"suite": "lua"',
    '"workload": ' .. jstr(workload), '"impl": ' .. jstr(impl), '"unit": ' .. jstr(unit),
    string.format('"value": %.6g', median), string.format('"min": %.6g', vals[1]),
    string.format('"max": %.6g', vals[m]), string.format('"n": %d', n),
    string.format('"reps": %d', m), '"lower_is_better": true',
    '"quick": ' .. tostring(QUICK), '"lua": ' .. jstr(_VERSION),
  }
  for k, v in pairs(extra or {}) do
    parts[#parts + 1] = jstr(k) .. ": " .. (type(v) == "number" and string.format("%.6g", v)
      or jstr(v))
  end
  io.stdout:write("{" .. table.concat(parts, ", ") .. "}\n")
  io.stdout:flush()
  io.stderr:write(string.format("%-22s %-44s %12.1f %s\n", workload, impl, median, unit))
end

-- Warm up once (n/10), then REPS timed runs of fn(n); ns per item.
local function measure(fn, n)
  fn(math.max(1, n // 10))
  local vals = {}
  for r = 1, REPS do
    local t0 = now()
    fn(n)
    vals[r] = (now() - t0) / n
  end
  return vals
end

-- ---- 8 and 9: calls ----------------------------------------------------------

local function bench_calls()
  local n = size(5000000, 20000)
  local fut = xf.future()
  fut:set_result(1)
  local version, nversion, nnoop = core.version, noop.version, noop.noop
  local state = core.future_state
  local cases = {
    { "lua_call", "xfutures", function(k) for _ = 1, k do fut:done() end end,
      "fut:done(): the Lua method and the SWIG call" },
    { "lua_call", "xfutures core.future_state", function(k) for _ = 1, k do state(fut) end end,
      "the SWIG call alone" },
    { "lua_call", "plain C function", function(k) for _ = 1, k do nnoop(fut) end end,
      ANCHOR:format("noop") .. " with the future as argument" },
    { "crossing_lua", "xfutures", function(k) for _ = 1, k do version() end end,
      "xfutures_core.version()" },
    { "crossing_lua", "plain C function", function(k) for _ = 1, k do nversion(1) end end,
      ANCHOR:format("version") },
  }
  for _, c in ipairs(cases) do
    if selected(c[2]) then
      emit(c[1], c[2], "ns/call", measure(c[3], n), n, { note = c[4] .. "; includes the for-loop" })
    end
  end
end

-- ---- 8: the Lua-state pool -------------------------------------------------

local function spin(iters)
  local x = 0
  for i = 1, iters do
    x = (x * 31 + i) & 0xffffffff
  end
  return x
end

local function bench_pool()
  local k = size(32, 4)
  local iters = size(2000000, 20000)
  local expect = spin(iters)
  local pool = xf.lua_pool { workers = 2 }
  -- Start both workers (and their Lua states) before the clock does.
  local warm = {}
  for i = 1, 8 do warm[i] = pool:submit(spin, 1) end
  for _, f in ipairs(warm) do f:result() end
  local function on_pool()
    local fs = {}
    for i = 1, k do fs[i] = pool:submit(spin, iters) end
    for i = 1, k do assert(fs[i]:result() == expect) end
  end
  local function sequential()
    for _ = 1, k do assert(spin(iters) == expect) end
  end
  for _, c in ipairs { { "xfutures (2 workers)", on_pool }, { "sequential", sequential } } do
    if selected(c[1]) or selected("lua_pool") then
      c[2]()
      local vals = {}
      for r = 1, REPS do
        local t0 = now()
        c[2]()
        vals[r] = (now() - t0) / 1e6
      end
      emit("lua_pool", c[1], "ms/batch", vals, k,
        { note = string.format("%d calls of a Lua loop of %d iterations", k, iters) })
    end
  end
  pool:shutdown()
end

-- ---- 8: timers ---------------------------------------------------------------

local function xf_timers(k)
  local fired = 0
  xf.run(function()
    local done = xf.future()
    for i = 1, k do
      xf.call_later((i % 4) / 1000, function()
        fired = fired + 1
        if fired == k then done:set_result(true) end
      end)
    end
    xf.await(done)
  end)
  assert(fired == k)
end

local ok_luv, uv = pcall(require, "luv")

local function luv_timers(k)
  local fired = 0
  for i = 1, k do
    local t = uv.new_timer()
    t:start(i % 4, 0, function()
      fired = fired + 1
      t:close()
    end)
  end
  uv.run()
  assert(fired == k)
end

-- The fallback anchor: coroutines sleeping on a binary heap of deadlines,
-- driven by a loop that waits for the earliest one.
local function coroutine_timers(k)
  local heap, count = {}, 0
  local function push(t, co)
    count = count + 1
    local i = count
    heap[i] = { t, co }
    while i > 1 do
      local p = i // 2
      if heap[p][1] <= heap[i][1] then break end
      heap[p], heap[i] = heap[i], heap[p]
      i = p
    end
  end
  local function pop()
    local top = heap[1]
    heap[1] = heap[count]
    heap[count] = nil
    count = count - 1
    local i = 1
    while true do
      local l, r, m = 2 * i, 2 * i + 1, i
      if l <= count and heap[l][1] < heap[m][1] then m = l end
      if r <= count and heap[r][1] < heap[m][1] then m = r end
      if m == i then break end
      heap[m], heap[i] = heap[i], heap[m]
      i = m
    end
    return top
  end
  local fired = 0
  local t0 = now()
  for i = 1, k do
    push(t0 + (i % 4) * 1000000, coroutine.create(function() fired = fired + 1 end))
  end
  while count > 0 do
    local t = heap[1][1]
    while now() < t do end -- the plain loop has no way to sleep precisely
    coroutine.resume(pop()[2])
  end
  assert(fired == k)
end

local function bench_timers()
  local n = size(200000, 2000)
  local cases = { { "xfutures", xf_timers, "xf.call_later in xf.run" } }
  if ok_luv then
    cases[#cases + 1] = { "lua-luv (libuv)", luv_timers,
      "luv " .. uv.version_string() .. ": uv.new_timer():start() + uv.run()" }
  else
    cases[#cases + 1] = { "coroutine timer loop", coroutine_timers,
      "lua-luv not installed for Lua 5.4: a plain coroutine timer loop instead" }
  end
  for _, c in ipairs(cases) do
    if selected(c[1]) then
      emit("lua_timers", c[1], "ns/timer", measure(c[2], n), n,
        { note = c[3] .. "; delays 0-3 ms, so the run includes up to 3 ms of waiting" })
    end
  end
end

local t0 = now()
bench_calls()
bench_pool()
bench_timers()
io.stderr:write(string.format("lua_bench: %.1f s\n", (now() - t0) / 1e9))
