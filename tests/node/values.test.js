// The value policy (README, "The value policy"): each JavaScript value
// crosses as the core kind of the table, the core's own rendering of it
// (xf.coreRepr) is the judge, and a value given back to JavaScript is the
// very same one.
const test = require('node:test');
const assert = require('node:assert');
const util = require('node:util');
const xf = require('xfutures');

function set(v) {
  const f = new xf.Future();
  f.setResult(v);
  return f;
}

function expectCore(v, kind, repr) {
  assert.deepStrictEqual(xf.coreRepr(set(v)), [kind, repr], `value ${util.inspect(v)}`);
}

test('undefined is void and null the null pointer, and both come back as they were', () => {
  expectCore(undefined, 'void', 'none');
  expectCore(null, 'pointer', 'pointer');
  assert.strictEqual(set(undefined).result(), undefined);
  assert.strictEqual(set(null).result(), null);
  assert.deepStrictEqual(set([null, undefined]).result(), [null, undefined]);
  // The same through the core's combinators, which make new values.
  return xf.all([set(null), set(undefined)]).then((v) => assert.deepStrictEqual(v, [null, undefined]));
});

test('booleans and safe integers cross as bool and int', () => {
  expectCore(true, 'bool', 'true');
  expectCore(false, 'bool', 'false');
  expectCore(42, 'int', '42');
  expectCore(Number.MAX_SAFE_INTEGER, 'int', '9007199254740991');
  expectCore(-Number.MAX_SAFE_INTEGER, 'int', '-9007199254740991');
});

test('BigInts cross as int, and ints beyond 2^53 read back as exact BigInts', () => {
  expectCore(10n, 'int', '10');
  expectCore(2n ** 53n + 1n, 'int', '9007199254740993');
  expectCore(2n ** 63n - 1n, 'int', '9223372036854775807');
  expectCore(-(2n ** 63n), 'int', '-9223372036854775808');
  assert.strictEqual(set(2n ** 53n + 1n).result(), 2n ** 53n + 1n);
  assert.strictEqual(set(-(2n ** 63n)).result(), -(2n ** 63n));
  assert.strictEqual(set(10n).result(), 10); // an int within 2^53 reads as a number
  assert.throws(() => set(2n ** 64n), RangeError);
});

test('other numbers cross as double: -0 stays -0, NaN and the infinities stay', () => {
  expectCore(2.5, 'double', '2.5');
  expectCore(-0, 'double', '-0.0');
  expectCore(NaN, 'double', 'nan');
  expectCore(Infinity, 'double', 'inf');
  expectCore(-Infinity, 'double', '-inf');
  expectCore(2 ** 53, 'double', '9007199254740992.0');
  assert.ok(Object.is(set(-0).result(), -0));
  assert.ok(Object.is(set([-0]).result()[0], -0));
  assert.ok(Number.isNaN(set(NaN).result()));
});

test('strings with NUL bytes and non-ASCII text cross as strings', () => {
  expectCore('héllo', 'string', '"héllo"');
  expectCore('a\0b', 'string', '"a\\u0000b"');
  expectCore('', 'string', '""');
  expectCore('日本', 'string', '"日本"');
  assert.strictEqual(set('a\0b').result(), 'a\0b');
});

test('typed arrays, Buffers and ArrayBuffers cross as bytes; the same object comes back', () => {
  expectCore(Buffer.alloc(0), 'bytes', 'b""');
  expectCore(new Uint8Array([0, 1, 255]), 'bytes', 'b"0001ff"');
  expectCore(new Uint16Array([0x0102]), 'bytes', 'b"0201"');
  expectCore(new ArrayBuffer(2), 'bytes', 'b"0000"');
  const u = new Uint8Array([7]);
  assert.strictEqual(set(u).result(), u);
  // Bytes made elsewhere (here: a list made by the core) read as a Buffer.
  return xf.all([set(new Uint8Array([1, 2]))]).then(([b]) => {
    assert.ok(b instanceof Uint8Array);
    assert.deepStrictEqual([...b], [1, 2]);
  });
});

test('arrays cross as lists: holes read as undefined, other properties stay behind', () => {
  expectCore([1, 'two', [3.5, [true]]], 'list', '[1, "two", [3.5, [true]]]');
  expectCore([], 'list', '[]');
  // eslint-disable-next-line no-sparse-arrays
  expectCore([1, , 3], 'list', '[1, none, 3]');
  const extra = [1, 2];
  extra.name = 'x';
  expectCore(extra, 'list', '[1, 2]');
});

test('plain objects and Maps cross as maps, in their own order', () => {
  expectCore({ a: 1 }, 'map', '{"a": 1}');
  expectCore({ b: 1, a: { c: [1] } }, 'map', '{"b": 1, "a": {"c": [1]}}');
  expectCore(Object.assign(Object.create(null), { k: 'v' }), 'map', '{"k": "v"}');
  expectCore({}, 'map', '{}');
  expectCore(new Map([[1, 'x'], ['y', 2]]), 'map', '{1: "x", "y": 2}');
});

test('a value given back to JavaScript is the same object, as a Promise would give', async () => {
  for (const v of [[1, 2], { a: 1 }, new Map([[1, 2]]), {}, []]) {
    const f = set(v);
    assert.strictEqual(f.result(), v);
    assert.strictEqual(await f, v);
  }
  const a = [1];
  const o = { k: 'v' };
  const both = await xf.all([set(a), set(o)]);
  assert.strictEqual(both[0], a);
  assert.strictEqual(both[1], o);
  // A container holding a function, set on two futures.
  const withFn = { k: () => 1, n: 1 };
  const w1 = set(withFn);
  const w2 = set(withFn);
  assert.strictEqual(w1.result(), withFn);
  assert.strictEqual(w2.result(), withFn);
  // Empty containers are distinct values: each comes back as itself.
  const empties = [[], [], {}, {}, new Uint8Array(0), new Uint8Array(0)];
  const fs = empties.map(set);
  fs.forEach((f, i) => assert.strictEqual(f.result(), empties[i]));
  // Set on two futures, both give it back.
  const t = [1, 2];
  const f = set(t);
  const g = set(t);
  assert.strictEqual(f.result(), t);
  assert.strictEqual(g.result(), t);
});

test('an object that changed after it was set: the core keeps the old contents', () => {
  const t = [1];
  const f = set(t);
  t.push(2);
  const g = set(t);
  assert.strictEqual(g.result(), t);
  assert.deepStrictEqual(xf.coreRepr(f), ['list', '[1]']);
  assert.deepStrictEqual(xf.coreRepr(g), ['list', '[1, 2]']);
});

test('functions, class instances and cyclic data cross as opaque handles that come back as themselves', () => {
  class Point { constructor() { this.x = 1; } }
  const cyc = [];
  cyc.push(cyc);
  const cycObj = {};
  cycObj.self = cycObj;
  for (const v of [() => 1, new Point(), Symbol('s'), new Date(0), new Set([1]), cyc, cycObj,
    Promise.resolve(1)]) {
    expectCore(v, 'object', 'object(node)');
    assert.strictEqual(set(v).result(), v);
  }
  const fn = () => 2;
  expectCore([fn, { k: fn }], 'list', '[object(node), {"k": object(node)}]');
  const back = set([fn, { k: fn }]).result();
  assert.strictEqual(back[0], fn);
  assert.strictEqual(back[1].k, fn);
});

test('coreRepr renders an error outcome and refuses a pending future', () => {
  const f = new xf.Future();
  const e = new Error('bad');
  e.name = 'ValueError';
  f.setError(e);
  f.catch(() => {});
  assert.deepStrictEqual(xf.coreRepr(f), ['error', 'error(ValueError: bad)']);
  assert.throws(() => xf.coreRepr(new xf.Future()), { name: 'InvalidStateError' });
});

test('null is NULL for a native pointer or string argument, as void was', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  try {
    assert.strictEqual(await pool.submitNative(xf.symbol('free'), 'void(pointer)', null), undefined);
    // setlocale(LC_ALL, NULL) asks for the current locale without changing it.
    const locale = await pool.submitNative(xf.symbol('setlocale'), 'string(int32, string)', 6, null);
    assert.strictEqual(typeof locale, 'string');
  } finally {
    pool.close();
  }
});

// The release of a JavaScript object held by the core: the core posts it to
// the owner loop when the last reference drops anywhere but inside that
// loop's run (the main thread outside it, or a pool thread), and the loop
// releases it; the object can then be collected.
test('an object held by dropped futures is released, also when a pool thread drops it', async () => {
  const v8 = require('node:v8');
  const vm = require('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const usleep = xf.symbol('usleep');
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  let finalized = 0;
  const registry = new FinalizationRegistry(() => finalized++);
  const n = 8;
  (() => {
    for (let i = 0; i < n; i++) {
      const obj = () => i; // a function crosses as an object
      registry.register(obj, i);
      const f = new xf.Future();
      f.setResult(obj);
      if (i % 2 === 0) {
        f.free(); // the last reference drops on the main thread, outside the loop
      } else {
        // The combined future holds the value until the pool thread finishes
        // the job, builds the list and drops the inputs there.
        const job = pool.submitNative(usleep, 'int(uint32)', 1000);
        const both = xf.all([f, job]);
        f.free();
        both.free();
        job.free();
      }
    }
  })();
  for (let round = 0; round < 200 && finalized < n; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  pool.close();
  assert.strictEqual(finalized, n);
});
