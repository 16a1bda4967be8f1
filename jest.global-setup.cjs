/**
 * Prints the fast-check seed every property test uses, so a CI log says how to replay a run.
 * FC_SEED overrides it; workers inherit the environment set here.
 */
module.exports = function globalSetup() {
  if (process.env.FC_SEED === undefined) process.env.FC_SEED = '20261121';
  process.stdout.write(
    `\nfast-check properties run with seed ${process.env.FC_SEED} (set FC_SEED=<n> to change it)\n`,
  );
};
