// The tasks of tests/mpi/node_mpi.js, run by the serving ranks.
exports.square = (x) => x * x;
exports.fail = (message) => {
  const e = new Error(message);
  e.name = 'KeyError';
  throw e;
};
exports.pid = () => process.pid;
exports.later = async (x) => {
  await new Promise((resolve) => setImmediate(resolve));
  return { x, twice: 2 * x };
};
exports.setEnv = (key, value) => { process.env[key] = value; };
exports.getEnv = (key) => process.env[key] ?? null;
