/**
 * Bounds the life of a load-test child process: it ends when its parent's end
 * of stdin closes (the harness stopped or died) or, at the latest, after
 * LOADTEST_TTL_S seconds (default 1800), so no party of a run outlives it.
 * Kept apart from lib.ts so the lean parties do not load autocannon.
 */
export function boundLifetime(onStop: () => void): void {
  const ttlS = Number(process.env.LOADTEST_TTL_S ?? 1800);
  const stop = () => {
    onStop();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  setTimeout(stop, ttlS * 1000).unref();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (!process.stdin.isTTY) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
}
