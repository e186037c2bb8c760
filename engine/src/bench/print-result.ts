/**
 * What a bench module run as a script (`node engine/dist/bench/<part>.js`) does with its result:
 * the JSON on stdout, a failure's stack on stderr and exit code 1.
 */
export function printResult(p: Promise<unknown>): void {
  p.then(
    (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
    (e: unknown) => {
      process.stderr.write(`${String((e as Error).stack ?? e)}\n`);
      process.exitCode = 1;
    },
  );
}
