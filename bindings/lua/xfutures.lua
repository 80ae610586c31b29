--- xfutures for Lua 5.4: futures, coroutines that await them, thread pools
-- and pools of Lua states, over the xfutures C library.
--
--   local xf = require "xfutures"
--
-- This file is the idiomatic layer; the generated module xfutures_core (SWIG,
-- with the C glue of bindings/lua/xfl.c) does the work. Callbacks and
-- coroutine resumptions run on the thread that owns this Lua state, when it
-- runs its loop: inside xf.run, or while it blocks in a wait (f:result(),
-- xf.sleep outside a task, ...).
local core = require "xfutures_core"

local xf = {}
local metatables = core.metatables
local AWAIT = core.await_key
local ErrorMT = metatables.error
local Future = metatables.future.__index
local Executor = metatables.executor.__index
local Handle = metatables.handle.__index

xf.core = core
xf._VERSION = core.version()

local function pack(...)
  return { n = select("#", ...), ... }
end

-- ---- Errors ---------------------------------------------------------------

--- The metatable of the error tables xfutures raises: fields type, message,
-- traceback (may be nil), code (an XF_E* code), name (its symbolic name) and
-- value (the original Lua error object, when there was one).
xf.Error = ErrorMT

--- A new error table (not raised): xf.new_error("ValueError", "bad input").
function xf.new_error(type, message, code)
  return core.make_error(code or core.EFAILED, type or "LuaError", message or type or "error")
end

--- Whether e is an xfutures error table.
function xf.is_error(e)
  return getmetatable(e) == ErrorMT
end

--- Whether e is a cancellation error.
function xf.is_cancelled(e)
  return xf.is_error(e) and e.code == core.ECANCELLED
end

--- Whether e is a timeout error.
function xf.is_timeout(e)
  return xf.is_error(e) and e.code == core.ETIMEDOUT
end

local function raise(code, type, message)
  error(core.make_error(code, type, message), 0)
end

-- The code a core call answered, raised as an error table when negative.
local function check(rc)
  if rc < 0 then
    error(core.make_error(rc), 3)
  end
  return rc
end

-- ---- Futures --------------------------------------------------------------

--- A new pending future, free-standing: any thread may finish it; its
-- callbacks run on this state's thread.
xf.future = core.future_new
xf.is_future = core.is_future

--- Adopt a future made elsewhere (in C, in another Lua state, in Python)
-- from its address: a light userdata or an integer, such as fut:handle()
-- gives. The future must be alive; the returned object holds a reference of
-- its own. Its callbacks run on this state's thread, as for any future.
xf.future_from_handle = core.future_from_handle

-- ---- Values (README, "The value policy") --------------------------------
-- nil, booleans, integers, floats and strings cross as the core's kinds (a
-- string that is not valid UTF-8 as bytes); a plain table as a list (a
-- sequence, or empty) or a map (any other keys, sorted); a table with a
-- metatable, a function, a coroutine, a userdata, and a table that cannot be
-- data (it contains itself, nests deeper than 64 levels, or has a key that
-- is not a boolean, number or string) as an opaque handle that comes back
-- as itself. A table given back to this state is the same table.

--- The null pointer (a light userdata): the value of JavaScript's null and
-- C's NULL pointer.
xf.null = core.null

--- s as a value of kind bytes (it reads back as a Lua string).
xf.bytes = core.bytes

--- The kind name ("void", "bool", "int", "double", "string", "bytes",
-- "list", "map", "pointer", "object", "error") and the core's canonical text
-- of a done future's value (an error outcome as kind "error").
xf.core_repr = core.core_repr

--- The address of the future's C handle (an xf_future_t *) as an integer,
-- to hand to C or to another state or language (xf.future_from_handle,
-- Python's xfutures.Future.from_handle).
Future.handle = core.future_handle

function Future:set_result(v)
  core.future_set_result(self, v)
  return self
end

--- Finish with an error: an error table, a string, or {type=, message=}.
function Future:set_error(e)
  core.future_set_error(self, e)
  return self
end

--- Wait until done (at most timeout seconds); true when done.
function Future:wait(timeout)
  return core.future_wait(self, timeout)
end

--- The value; raises the future's error, a CancelledError, or a TimeoutError
-- if it is not done within timeout seconds (nil: wait forever).
function Future:result(timeout)
  if not core.future_wait(self, timeout) then
    raise(core.ETIMEDOUT, "TimeoutError", "result() timed out")
  end
  return core.future_outcome(self)
end

--- The error table, or nil when the future holds a value (a cancelled
-- future gives a CancelledError).
function Future:error(timeout)
  if not core.future_wait(self, timeout) then
    raise(core.ETIMEDOUT, "TimeoutError", "error() timed out")
  end
  return core.future_error(self)
end

local state_names = {
  [core.PENDING] = "pending",
  [core.RUNNING] = "running",
  [core.FINISHED] = "finished",
  [core.CANCELLED] = "cancelled",
}

--- "pending", "running", "finished" or "cancelled".
function Future:state()
  return state_names[core.future_state(self)]
end

-- The core's calls themselves: no Lua frame on these paths.
Future.done = core.future_done
Future.cancelled = core.future_cancelled
Future.running = core.future_running

--- Cancel (only a pending future, or a task); true if it is now cancelled.
function Future:cancel(msg)
  return core.future_cancel_msg(self, msg) == 0
end

--- Call fn(future) once the future is done, on this state's thread.
function Future:on_done(fn)
  core.future_on_done(self, fn)
  return self
end

--- Remove every registration of fn not yet run; returns how many.
Future.remove_on_done = core.future_remove_on_done

-- ---- Coroutines -----------------------------------------------------------

--- Run fn(...) as a task on this state's loop; returns its future (a task:
-- cancelling it raises a CancelledError at its current xf.await).
xf.spawn = core.spawn

--- The future of the running task, or nil outside a task.
xf.current_task = core.current_task

-- The awaitable protocol: an object that is not a future can be awaited when
-- its metatable has an __await function, which xf.await calls with the
-- object, in the awaiting task, and whose results are the await's (it may
-- itself await, as Python's __await__ delegates to another awaitable).
local function awaiter(x)
  local mt = getmetatable(x)
  local fn = type(mt) == "table" and rawget(mt, "__await") or nil
  return type(fn) == "function" and fn or nil
end

--- Whether x can be given to xf.await: a future, or an object whose
-- metatable has an __await function.
function xf.is_awaitable(x)
  return core.is_future(x) or awaiter(x) ~= nil
end

--- Inside a task, suspend until the future is done and return its value or
-- raise its error. Outside a task, block until done (running the loop). In
-- a plain coroutine (or a callback) while the loop runs, blocking would stop
-- every task: that raises an EDEADLK error instead, naming the fix (run the
-- function as a task with xf.spawn). An awaitable that is not a future is
-- awaited through its __await.
function xf.await(f)
  if not core.is_future(f) then
    local aw = awaiter(f)
    if aw then
      return aw(f)
    end
    error("xf.await: expected a future or an awaitable, got " .. type(f), 2)
  end
  local task = core.current_task()
  if task then
    if task == f then
      error("xf.await: a task cannot await itself", 2)
    end
    local status = coroutine.yield(AWAIT, f)
    if status == core.ECANCELLED and not core.future_cancelled(f) then
      raise(core.ECANCELLED, "CancelledError", "the task was cancelled")
    end
    return core.future_outcome(f)
  end
  -- Not in a task: block, running the loop, unless this thread is running
  -- it already (a plain coroutine inside a task): that raises an error.
  core.future_wait(f, nil, true)
  return core.future_outcome(f)
end
Future.await = xf.await

--- Sleep s seconds: suspends a task, or runs the loop meanwhile outside one.
-- xf.sleep(0) in a task yields to the loop once.
function xf.sleep(s)
  if core.current_task() then
    if not s or s <= 0 then
      coroutine.yield()
      return
    end
    return xf.await(core.loop_sleep(s))
  end
  core.loop_sleep(math.max(s or 0, 0)):result()
end

local function bind(fn, ...)
  local args = pack(...)
  if args.n == 0 then
    return fn
  end
  return function()
    return fn(table.unpack(args, 1, args.n))
  end
end

--- Call fn(...) after s seconds on this state's loop; returns a handle with
-- :cancel().
function xf.call_later(s, fn, ...)
  return core.call_later(s, bind(fn, ...))
end

--- Call fn(...) soon on this state's loop; returns a handle.
function xf.call_soon(fn, ...)
  return core.call_soon(bind(fn, ...))
end

Handle.cancel = core.handle_cancel

--- Call fn(fd) on this state's loop each time the file descriptor fd is
-- readable, or has an error or hang-up, until xf.remove_reader(fd) (the
-- core loop's fd readiness). One reader per fd: adding another replaces it.
-- The loop does not own fd: remove the reader before closing it.
xf.add_reader = core.add_reader

--- Stop watching fd; true if a reader was removed.
function xf.remove_reader(fd)
  return core.loop_remove_reader(fd) == 1
end

local function future_list(args, fname)
  local list = {}
  for i = 1, #args do
    local f = args[i]
    if type(f) == "function" then
      f = core.spawn(f)
    elseif awaiter(f) then
      local awaitable = f
      f = core.spawn(function()
        return xf.await(awaitable)
      end)
    elseif not core.is_future(f) then
      error(fname .. ": item " .. i .. " is not a future, an awaitable or a function", 3)
    end
    list[i] = f
  end
  return list
end

--- A future of the list of the values of the futures (functions and other
-- awaitables are spawned as tasks), in order: xf.gather(f1, f2, ...) or
-- xf.gather{f1, f2, return_exceptions = true}. Fails with the first error,
-- unless return_exceptions, where errors appear as error tables.
function xf.gather(...)
  local first = ...
  if select("#", ...) == 1 and type(first) == "table" and not core.is_future(first) then
    return core.future_all(future_list(first, "xf.gather"),
      first.return_exceptions and core.ALL_COLLECT or 0)
  end
  return core.future_all(future_list({ ... }, "xf.gather"), 0)
end

--- A future that follows f, unless timeout seconds pass first: then f is
-- cancelled and the future fails with a TimeoutError.
xf.wait_for = core.future_timeout

--- A future that follows f but whose cancellation does not cancel f.
xf.shield = core.future_shield

--- Copy src's outcome into dst when src is done (if dst is still pending).
-- Cancellation flows both ways: cancelling dst cancels src, and a cancelled
-- src cancels dst.
function xf.chain(src, dst)
  core.future_chain(src, dst)
end

--- A future with the outcome of whichever future is done first; with
-- cancel_rest the others are cancelled.
function xf.first_completed(list, cancel_rest)
  return core.future_first(list, cancel_rest and true or false)
end

--- A future of the first successful value (an AggregateError if all fail).
function xf.any(list, cancel_rest)
  return core.future_any(list, cancel_rest and true or false)
end

-- Wait for w, at most until deadline (ns on core.now()), awaiting in a task.
local function wait_until(w, deadline)
  local left = deadline and (deadline - core.now()) / 1e9
  if left and left <= 0 then
    return false
  end
  if core.current_task() then
    local ok, err = pcall(xf.await, left and core.future_timeout(core.future_shield(w), left) or w)
    if not ok and xf.is_timeout(err) and not w:done() then
      return false
    end
    if not ok and xf.is_cancelled(err) and not w:done() then
      error(err, 0)
    end
    return true
  end
  return core.future_wait(w, left)
end

--- Iterate over the futures as they complete:
--   for f in xf.as_completed(list, timeout) do ... f:result() ... end
-- Inside a task it awaits; outside one it blocks, running the loop. Raises a
-- TimeoutError when timeout seconds (from the call) pass first.
function xf.as_completed(list, timeout)
  local pending, seen = {}, {}
  for _, f in ipairs(list) do
    if not core.is_future(f) then
      error("xf.as_completed: expected futures", 2)
    end
    if not seen[f] then
      seen[f] = true
      pending[#pending + 1] = f
    end
  end
  local deadline = timeout and core.now() + math.floor(timeout * 1e9)
  return function()
    while #pending > 0 do
      for i, f in ipairs(pending) do
        if f:done() then
          table.remove(pending, i)
          return f
        end
      end
      if not wait_until(core.future_first(pending, false), deadline) then
        raise(core.ETIMEDOUT, "TimeoutError", "as_completed timed out")
      end
    end
    return nil
  end
end

--- Run the loop until main is done and return its value (or raise its
-- error). main is a function (run as a task with the arguments) or a future.
function xf.run(main, ...)
  local f = main
  if type(main) == "function" then
    f = core.spawn(main, ...)
  elseif not core.is_future(main) then
    error("xf.run: expected a function or a future", 2)
  end
  return core.run_until_complete(f)
end

--- Handle errors nobody else can (a failing callback, a task error never
-- retrieved): fn(message, err). nil restores the default (print to stderr).
xf.set_exception_handler = core.set_exception_handler

-- ---- Executors ------------------------------------------------------------

--- A pool of native threads: xf.thread_pool{max_workers = 4, name = "io"}.
-- It runs C functions (submit_native); Lua code goes to xf.lua_pool.
-- max_queue = n bounds the queue of waiting jobs; when it is full,
-- submit_native waits for room (queue_policy = "block", the default; the
-- state's loop does not run meanwhile) or raises a QueueFull error
-- (queue_policy = "reject"; see xf.is_queue_full).
function xf.thread_pool(opts)
  opts = opts or {}
  return core.thread_pool_new(opts.max_workers or 0, opts.name, opts.max_queue or 0,
    opts.queue_policy or "block")
end

--- Whether e is the error of a submission refused by a full bounded queue.
function xf.is_queue_full(e)
  return xf.is_error(e) and e.code == core.EAGAIN
end

--- A pool whose worker threads each own a separate Lua state:
-- xf.lua_pool{workers = 4, init = "code run in each new state"}. The
-- workers' package.path and package.cpath are this state's.
function xf.lua_pool(opts)
  opts = opts or {}
  return core.lua_pool_new(opts.workers or opts.max_workers or 0, opts.path or package.path,
    opts.cpath or package.cpath, opts.init)
end

--- Run the C function fn (a light userdata, see xf.dlsym) of the given
-- signature, e.g. "double(double)", on the pool; returns a future.
function Executor:submit_native(fn, signature, ...)
  local cb = xf.is_callback(fn) and fn or nil
  if cb then
    fn = cb.pointer
  end
  local ok, f = pcall(core.executor_submit_native, self, fn, signature, ...)
  if not ok then
    if xf.is_error(f) and f.code == core.EAGAIN then
      raise(core.EAGAIN, "QueueFull", "the thread pool's queue is full")
    end
    error(f, 0)
  end
  if cb then
    -- The closure stays alive until the call is over.
    f:on_done(function() return cb end)
  end
  return f
end

--- On a lua_pool: run fn(...) in a worker's Lua state. fn is a function
-- without upvalues (sent with string.dump), or "module:function" /
-- "module.function" (loaded with require in the worker). Arguments and the
-- result cross as values.
function Executor:submit(fn, ...)
  if type(fn) == "function" then
    for i = 1, math.huge do
      local name = debug.getupvalue(fn, i)
      if not name then
        break
      end
      if name ~= "_ENV" then
        error("lua_pool: the function has an upvalue '" .. name .. "'; pass it as an argument", 2)
      end
    end
    local ok, code = pcall(string.dump, fn)
    if not ok then
      error("lua_pool: cannot send this function (a C function?)", 2)
    end
    return core.lua_pool_submit(self, code, nil, nil, ...)
  elseif type(fn) == "string" then
    local module, name = fn:match("^(.+):([^:]+)$")
    if not module then
      module, name = fn:match("^(.+)%.([^.]+)$")
    end
    if not module then
      error("lua_pool: expected \"module:function\", got '" .. fn .. "'", 2)
    end
    return core.lua_pool_submit(self, nil, module, name, ...)
  end
  error("lua_pool: expected a function or \"module:function\", got " .. type(fn), 2)
end

--- Stop accepting work: pool:shutdown{wait = true, cancel_futures = false}.
function Executor:shutdown(opts)
  opts = opts or {}
  local wait = opts.wait
  if wait == nil then
    wait = true
  end
  core.executor_shutdown(self, wait, opts.cancel_futures)
end

--- Counters: queued, running, completed, cancelled, threads, max_workers.
Executor.stats = core.executor_stats

-- local pool <close> = xf.thread_pool{} shuts the pool down at scope exit.
metatables.executor.__close = function(self)
  self:shutdown { wait = true }
end

local default_pool
--- Run fn(...) in the shared default lua_pool (asyncio.to_thread for Lua).
function xf.to_thread(fn, ...)
  default_pool = default_pool or xf.lua_pool {}
  return default_pool:submit(fn, ...)
end

-- ---- The process pool --------------------------------------------------
-- Workers are lua5.4 processes running xfutures_worker (the core's process
-- pool: bindings/lua/xfl.c, docs/wire-protocol.md). The pool, its policies
-- and its faults are the core's; this layer only names the task.

local ProcessPool = {}
ProcessPool.__index = ProcessPool
ProcessPool.__name = "xf.ProcessPool"

-- The payload of a task: [code, module, name, args, n] (see xfutures_worker).
local function process_payload(fn, level, ...)
  local n = select("#", ...)
  local args = { ... }
  if type(fn) == "function" then
    for i = 1, math.huge do
      local name = debug.getupvalue(fn, i)
      if not name then
        break
      end
      if name ~= "_ENV" then
        error("process_pool: the function has an upvalue '" .. name
          .. "' (only _ENV is carried); pass it as an argument", level + 1)
      end
    end
    local ok, code = pcall(string.dump, fn)
    if not ok then
      error("process_pool: cannot send this function (a C function?)", level + 1)
    end
    return { code, false, false, args, n }
  elseif type(fn) == "string" then
    local module, name = fn:match("^(.+):([^:]+)$")
    if not module then
      module, name = fn:match("^(.+)%.([^.]+)$")
    end
    if not module then
      error("process_pool: expected \"module:function\", got '" .. fn .. "'", level + 1)
    end
    return { false, module, name, args, n }
  end
  error("process_pool: expected a function or \"module:function\", got " .. type(fn), level + 1)
end

-- The interpreter that runs the workers: opts.lua, $XF_LUA, else lua5.4
-- found on PATH (the core spawns a path, without a PATH search).
local function find_lua(explicit)
  local name = explicit or os.getenv("XF_LUA") or "lua5.4"
  if name:find("/", 1, true) then
    return name
  end
  for dir in (os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
    local path = dir .. "/" .. name
    local f = io.open(path, "rb")
    if f then
      f:close()
      return path
    end
  end
  error("process_pool: cannot find the Lua interpreter '" .. name .. "' on PATH", 3)
end

--- A pool of worker processes, each a lua5.4 running xfutures_worker:
--   xf.process_pool{workers = 4, max_tasks_per_child = 100,
--                   on_worker_death = "break" | "replace",
--                   initializer = fn, initargs = {...}}
-- Tasks are functions without upvalues (sent with string.dump; _ENV is the
-- worker's globals) or "module:function" (require in the worker, which has
-- this state's package.path and package.cpath, or opts.path and
-- opts.cpath). Arguments and results cross as the core's plain values: nil,
-- booleans, integers (they stay integers), floats, strings, sequences and
-- other tables (as maps, without metatables), error tables. A function, a
-- userdata or a coroutine cannot cross: an argument is refused at submit, a
-- result fails its own task with a TypeError. A worker that dies mid-task
-- fails that task with a "BrokenProcessPool" error; with "break" (the
-- default) every pending task fails too and the pool is broken, with
-- "replace" a new worker takes its place. A failing initializer breaks the
-- pool. opts.lua names the interpreter (default $XF_LUA, else lua5.4).
function xf.process_pool(opts)
  opts = opts or {}
  local lua = find_lua(opts.lua)
  local boot = string.format(
    "package.path = %q package.cpath = %q os.exit(require('xfutures_worker').main(), true)",
    opts.path or package.path, opts.cpath or package.cpath)
  local init
  if opts.initializer ~= nil then
    local initargs = opts.initargs or {}
    init = process_payload(opts.initializer, 2, table.unpack(initargs, 1, initargs.n or #initargs))
  end
  local ex = core.process_pool_new({ lua, "-e", boot }, opts.workers or opts.max_workers or 0,
    opts.max_tasks_per_child or 0, opts.on_worker_death or "break", init,
    opts.forward_stderr ~= false)
  return setmetatable({ _ex = ex }, ProcessPool)
end

--- Run fn(...) in a worker process; returns a future (awaitable in a task,
-- :result(timeout) outside one). opts-free form; see :submit_with for a
-- per-task timeout.
function ProcessPool:submit(fn, ...)
  return core.process_pool_submit(self._ex, process_payload(fn, 2, ...))
end

--- pool:submit_with({timeout = s}, fn, ...): a worker whose task runs past
-- timeout seconds is killed (and replaced) and the future fails with a
-- TimeoutError.
function ProcessPool:submit_with(topts, fn, ...)
  return core.process_pool_submit(self._ex, process_payload(fn, 2, ...), topts and topts.timeout)
end

--- pool:submit_with_timeout(timeout, fn, ...): submit_with{timeout = timeout}, under
-- the name the other languages give it (submit_with_timeout in Python,
-- submitWithTimeout in Node).
function ProcessPool:submit_with_timeout(timeout, fn, ...)
  if type(timeout) ~= "number" or timeout < 0 then
    error("submit_with_timeout: timeout must be a number of seconds, >= 0", 2)
  end
  return core.process_pool_submit(self._ex, process_payload(fn, 2, ...), timeout)
end

--- pool:shutdown{wait = true, cancel_futures = false}.
function ProcessPool:shutdown(sopts)
  Executor.shutdown(self._ex, sopts)
end

--- Stop now: queued tasks are cancelled, workers get SIGTERM and, after
-- grace seconds (default 1), SIGKILL; their running tasks fail with
-- "BrokenProcessPool". kill is terminate without grace.
function ProcessPool:terminate(grace)
  check(core.process_pool_terminate(self._ex, grace))
end

function ProcessPool:kill()
  check(core.process_pool_kill(self._ex))
end

--- Counters: queued, running, completed, cancelled, threads, max_workers,
-- and workers (alive), spawned, deaths, retired, timeouts, broken.
function ProcessPool:stats()
  return core.process_pool_stats(self._ex)
end

-- local pool <close> = xf.process_pool{} shuts the pool down at scope exit.
ProcessPool.__close = function(self)
  self:shutdown { wait = true }
end

--- Whether x is a pool made by xf.process_pool.
function xf.is_process_pool(x)
  return getmetatable(x) == ProcessPool
end

--- The address of a C function, for submit_native: xf.dlsym(nil, "usleep")
-- looks in the process, xf.dlsym("libm.so.6", "cos") in a library.
xf.dlsym = core.dlsym

-- ---- Callbacks: Lua functions as C function pointers ----------------------

local Callback = {}
Callback.__index = Callback
Callback.__name = "xf.Callback"

--- A C function pointer of the given signature, such as
-- "int64(int64, int64)", that calls fn(...) and returns its result:
--   local cb = xf.callback("int64(int64, int64)", function(a, b) return a + b end)
--   pool:submit_native(cb, cb.signature, 2, 3)
-- cb.pointer is the pointer (a light userdata) for submit_native or any C
-- code, cb.address the same as an integer, cb.signature the canonical text.
-- Whichever thread calls it, fn runs on this state's thread, when it runs
-- its loop (xf.run, or a blocking wait such as f:result()); a caller on
-- another thread waits for the answer of a non-void call. An error raised by
-- fn goes to the exception handler (xf.set_exception_handler) and the C
-- caller receives zero. Keep cb referenced while C may call it; cb:close()
-- (or a <close> variable) releases it at once.
function xf.callback(signature, fn)
  if type(signature) ~= "string" then
    error("xf.callback: signature must be a string", 2)
  end
  if type(fn) ~= "function" then
    error("xf.callback: fn must be a function", 2)
  end
  local h, pointer, text, address = core.closure_new(signature, fn)
  return setmetatable({
    _h = h,
    pointer = pointer,
    address = address,
    signature = text,
    fn = fn,
  }, Callback)
end

--- Whether x is a callback made by xf.callback.
function xf.is_callback(x)
  return getmetatable(x) == Callback
end

--- Release the closure: no C code may call the pointer afterwards.
function Callback:close()
  if self._h then
    core.closure_free(self._h)
    self._h, self.pointer, self.address = nil, nil, nil
  end
end
Callback.__close = Callback.close

function Callback:__tostring()
  return "xf.Callback(" .. self.signature .. ")"
end

-- ---- Diagnostics ----------------------------------------------------------

--- The OS thread id of the caller (to check where callbacks run).
xf.thread_id = core.thread_id

--- Monotonic time in seconds (the loop's clock).
function xf.time()
  return core.now() / 1e9
end

-- ---- The MPI executor -------------------------------------------------------

local MPIPool = {}
MPIPool.__index = MPIPool

--- Whether this build of xfutures has MPI (xf.mpi_pool raises without).
xf.mpi_available = core.mpi_available

--- The process pool's tasks on the ranks of an MPI job (xf/mpi.h):
--   local pool = xf.mpi_pool{max_in_flight = 1, initializer = fn, initargs = {...}}
-- Under `mpirun -n N lua5.4 script.lua` (or `srun -n N ...`) every rank
-- runs the script and calls xf.mpi_pool: rank 0 gets the pool, whose
-- workers are the other ranks; on every other rank the call serves rank
-- 0's tasks until it shuts the pool down, and then returns nil (so a
-- script goes `if not pool then return end`). In a job of one rank the
-- pool spawns opts.workers interpreters with MPI_Comm_spawn instead. Tasks,
-- arguments and results are those of xf.process_pool. MPI gives no crash
-- isolation: a rank that dies ends the job.
function xf.mpi_pool(opts)
  opts = opts or {}
  local init
  if opts.initializer ~= nil then
    local initargs = opts.initargs or {}
    init = process_payload(opts.initializer, 2, table.unpack(initargs, 1, initargs.n or #initargs))
  end
  local _, rank, size = core.mpi_world()
  local ex
  if size > 1 then
    if rank ~= 0 then
      core.mpi_serve_open(0)
      require("xfutures_worker").main()
      core.mpi_serve_wait()
      return nil
    end
    ex = core.mpi_executor_new(0, opts.max_in_flight or 1, init)
  else
    local lua = opts.lua or os.getenv("XF_LUA") or "lua5.4"
    local boot = string.format(
      "package.path = %q package.cpath = %q local core = require('xfutures_core') " ..
      "core.mpi_serve_open(-1) require('xfutures_worker').main() core.mpi_serve_wait() os.exit(0, true)",
      opts.path or package.path, opts.cpath or package.cpath)
    ex = core.mpi_pool_new({ lua, "-e", boot }, opts.workers or opts.max_workers or 0,
      opts.max_in_flight or 1, init)
  end
  return setmetatable({ _ex = ex }, MPIPool)
end

--- Run fn(...) on a worker rank; returns a future.
function MPIPool:submit(fn, ...)
  return core.mpi_submit(self._ex, process_payload(fn, 2, ...))
end

--- pool:shutdown{wait = true, cancel_futures = false}.
function MPIPool:shutdown(sopts)
  Executor.shutdown(self._ex, sopts)
end

--- Counters: queued, running, completed, cancelled, threads (the ranks
-- that serve), max_workers.
function MPIPool:stats()
  return core.executor_stats(self._ex)
end

MPIPool.__close = function(self)
  self:shutdown { wait = true }
end

-- ---- Structured concurrency: tokens, scopes and groups -------------------
-- The core's cancellation tokens, cancel scopes and task groups (xf/cancel.h,
-- xf/scope.h, xf/group.h); the rules are theirs, this layer names them.

local sc = core.sc_metatables()
local Source, Token, Group = {}, {}, {}
-- A source's token is one object for as long as the source lives.
local source_tokens = setmetatable({}, { __mode = "k" })
sc.cancel_source.__index = function(self, k)
  if k == "token" then
    local t = source_tokens[self]
    if not t then
      t = core.cancel_source_token(self)
      source_tokens[self] = t
    end
    return t
  end
  return Source[k]
end
sc.cancel_token.__index = Token
sc.group.__index = Group

--- A new cancellation source: src:cancel(reason) cancels src.token.
-- xf.cancel_source(parent1, parent2, ...) links it: its token is cancelled,
-- with the parent's reason, as soon as any parent (a token or a source) is.
xf.cancel_source = core.cancel_source_new

--- Cancel the token with reason: nil (a CancelledError), a message, or an
-- error table. True if this call cancelled it (the first reason stays).
-- Callbacks given to on_cancel run on this state's loop.
Source.cancel = core.cancel_source_cancel

--- Whether the source's token is cancelled.
Source.cancelled = core.cancel_token_cancelled

--- Whether the token is cancelled.
Token.cancelled = core.cancel_token_cancelled

--- The reason of a cancelled token (an error table), or nil.
Token.reason = core.token_reason

--- Call fn(reason) on this state's loop once the token is cancelled (soon,
-- if it is already).
function Token:on_cancel(fn)
  core.token_on_cancel(self, fn)
  return self
end

--- Whether x is a cancellation token.
function xf.is_token(x)
  return getmetatable(x) == sc.cancel_token
end

--- In a lua_pool job submitted with a token (pool:with_token, g:submit):
-- whether that token is cancelled. A job polls it and stops, by raising
-- a CancelledError, say. Any state may call it: the worker's module is
-- xfutures_core (require "xfutures_core".token_current_cancelled()).
xf.current_token_cancelled = core.token_current_cancelled

--- On a lua_pool: the same pool, whose submissions carry token: a queued
-- job is cancelled with it, and a running one sees it through
-- xf.current_token_cancelled.
function Executor:with_token(token)
  return core.lua_pool_with_token(self, token)
end

-- Await f until it is done, also when the awaiting task is cancelled
-- meanwhile: work that must not be left running (a shielded scope, a
-- group's children) is waited for, and the cancellation is raised after.
-- on_cancel(err) is called at each cancellation of the awaiting task. A
-- cancelled task cancels the future it awaits: it awaits a shield of f,
-- made anew after each cancellation.
local function await_done(f, on_cancel)
  local interrupted
  while true do
    local ok, r = pcall(xf.await, core.future_shield(f))
    if core.future_done(f) then
      if interrupted then
        error(interrupted, 0)
      end
      if not ok then
        error(r, 0)
      end
      return r
    end
    interrupted = r
    if on_cancel then
      on_cancel(r)
    end
  end
end

local function run_scope(s, shielded, fn, ...)
  local ok, r = pcall(function(...)
    local t = core.scope_spawn(s, fn, ...)
    local w = core.scope_wrap(s, t)
    if shielded then
      return await_done(w)
    end
    return xf.await(w)
  end, ...)
  core.scope_exit(s, 0)
  if not ok then
    error(r, 0)
  end
  return r
end

--- Run fn(...) as a task in a cancel scope whose deadline is seconds from
-- now, and return its value (asyncio.timeout, Trio's move_on_after). What
-- fn makes and awaits on this loop inherits the scope; nested scopes link
-- to it. Reaching the deadline cancels the work, and raises a TimeoutError
-- here; a cancellation from elsewhere (an outer scope's deadline among
-- them) passes through as a CancelledError, for its own owner.
function xf.timeout(seconds, fn, ...)
  if type(fn) ~= "function" then
    error("xf.timeout: expected a number of seconds and a function", 2)
  end
  return run_scope(core.scope_new(seconds, false), false, fn, ...)
end

--- Run fn(...) as a task in a shielded scope: the cancellation of outer
-- scopes and of the caller does not reach it (Trio's shield=True). The
-- caller waits for it, then raises its own cancellation if it had one.
function xf.shield_scope(fn, ...)
  if type(fn) ~= "function" then
    error("xf.shield_scope: expected a function", 2)
  end
  return run_scope(core.scope_new(nil, true), true, fn, ...)
end

--- Fail the future f with a TimeoutError if it is not done in seconds
-- (Java's orTimeout); no loop is needed: the core's timer thread does it.
-- Returns f.
function xf.or_timeout(f, seconds)
  core.future_or_timeout(f, seconds)
  return f
end

-- A group's lua_pool views (pool:with_token of the group's token), shut
-- down when the group is over.
local group_pools = setmetatable({}, { __mode = "k" })

--- Run fn(...) as a task of the group; returns its future.
Group.spawn = core.group_spawn

--- Run fn(...) on the lua_pool pool as a child of the group, with the
-- group's token; returns its future.
function Group:submit(pool, fn, ...)
  local views = group_pools[self]
  if not views then
    views = {}
    group_pools[self] = views
  end
  local ex = views[pool]
  if not ex then
    ex = core.lua_pool_with_token(pool, core.group_token(self))
    views[pool] = ex
  end
  local f = ex:submit(fn, ...)
  local ok, e = pcall(core.group_add, self, f)
  if not ok then
    f:cancel()
    error(e, 2)
  end
  return f
end

--- Cancel every child (reason as for a source's cancel).
Group.cancel = core.group_cancel

--- The group's token, cancelled with the group.
Group.token = core.group_token

--- A task group (asyncio.TaskGroup, Trio's nursery): body(g, ...) adds
-- children with g:spawn(fn, ...) and g:submit(pool, fn, ...). The first
-- child that fails cancels the others; xf.group returns once every child is
-- done (body's value), and raises, when any failed, an error table of type
-- "ExceptionGroup" whose errors field holds every failed child's error in
-- the order the children were added (cancelled children are not failures).
-- An error of body itself cancels the children and is raised after them.
function xf.group(body, ...)
  if type(body) ~= "function" then
    error("xf.group: expected a function", 2)
  end
  local g = core.group_new()
  local ok, r = pcall(body, g, ...)
  if not ok then
    core.group_cancel(g, xf.is_error(r) and r or nil)
  end
  local join = core.group_join(g)
  local jok, jerr = pcall(await_done, join, function()
    core.group_cancel(g)
  end)
  for _, ex in pairs(group_pools[g] or {}) do
    ex:shutdown { wait = false }
  end
  if not ok then
    error(r, 0)
  end
  if not jok then
    error(jerr, 0)
  end
  return r
end

return xf
