// fd readiness on the owner loop: addReader and removeReader, which are the
// core loop's. A FIFO opened for reading and writing is the descriptor.
const test = require('node:test');
const assert = require('node:assert');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const xf = require('xfutures');

function fifo() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xf-readers-'));
  const p = path.join(dir, 'fifo');
  execFileSync('mkfifo', [p]);
  const fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  return { fd, p, dir, close() { fs.closeSync(fd); fs.rmSync(dir, { recursive: true }); } };
}

function readAll(fd) {
  const buf = Buffer.alloc(64);
  return buf.toString('utf8', 0, fs.readSync(fd, buf));
}

test('a reader gets the fd each time it is readable, until removed', async () => {
  const f = fifo();
  const got = [];
  const done = new xf.Future();
  xf.addReader(f.fd, (fd) => {
    got.push([fd, readAll(fd)]);
    if (got.length === 1) {
      fs.writeSync(f.fd, 'two'); // readable again, after this call
    } else {
      assert.strictEqual(xf.removeReader(fd), true);
      done.setResult(true);
    }
  });
  fs.writeSync(f.fd, 'one');
  await done;
  assert.deepStrictEqual(got, [[f.fd, 'one'], [f.fd, 'two']]);
  // Removed: the next run of the loop (for the due sleep) polls the fd, and
  // the data waiting there reaches no reader any more.
  fs.writeSync(f.fd, 'three');
  await xf.sleep(0);
  assert.strictEqual(readAll(f.fd), 'three');
  assert.strictEqual(xf.removeReader(f.fd), false);
  f.close();
});

test('a second reader on the same fd replaces the first', async () => {
  const f = fifo();
  const calls = [];
  const done = new xf.Future();
  xf.addReader(f.fd, () => calls.push('first'));
  xf.addReader(f.fd, (fd) => {
    calls.push('second');
    readAll(fd);
    xf.removeReader(fd);
    done.setResult(true);
  });
  fs.writeSync(f.fd, 'x');
  await done;
  assert.deepStrictEqual(calls, ['second']);
  f.close();
});

test('a bad descriptor or a bad function is refused with an error', () => {
  assert.throws(() => xf.addReader(-1, () => {}), (e) => e instanceof TypeError && e.errno === -1);
  assert.throws(() => xf.removeReader(-1), (e) => e instanceof TypeError && e.errno === -1);
  assert.throws(() => xf.addReader(0, 'not a function'), TypeError);
  assert.throws(() => xf.addReader(1.5, () => {}), TypeError);
  // The kernel cannot watch a regular file.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xf-readers-'));
  const fd = fs.openSync(path.join(dir, 'file'), 'w+');
  assert.throws(() => xf.addReader(fd, () => {}), (e) => e.code === 'XF_ESYS');
  assert.strictEqual(xf.removeReader(fd), false);
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true });
});

test('a reader keeps the process alive until it is removed', async () => {
  const f = fifo();
  // The child watches the FIFO and says so; only then does this process
  // write to it. Without a reader keeping it alive, it would exit first.
  const child = spawn(process.execPath, ['-e', `
    const fs = require('fs');
    const xf = require('xfutures');
    const fd = fs.openSync(${JSON.stringify(f.p)}, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    xf.addReader(fd, () => {
      const buf = Buffer.alloc(16);
      console.log('read ' + buf.toString('utf8', 0, fs.readSync(fd, buf)));
      xf.removeReader(fd);
      fs.closeSync(fd);
    });
    console.log('ready');
  `], { env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.stdout.on('data', (d) => {
    out += d;
    if (out === 'ready\n') fs.writeSync(f.fd, 'ping');
  });
  assert.strictEqual(await exited, 0);
  assert.strictEqual(out, 'ready\nread ping\n');
  f.close();
});
