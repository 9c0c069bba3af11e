/**
 * Runs the benchmarks: every `bench/<module>_bench.ts`, or those named on the
 * command line (`deno task bench enet framed`); files starting with `_` are parts of another
 * bench, not benches of their own. Each runs in its own process
 * so one module's sockets and timers cannot disturb another's numbers.
 *
 * @module
 */

const dir = new URL(".", import.meta.url);
const wanted = new Set(Deno.args);
const files: string[] = [];
for await (const entry of Deno.readDir(dir)) {
  const match = entry.name.match(/^(.+)_bench\.ts$/);
  if (
    entry.isFile && match && !entry.name.startsWith("_") &&
    (wanted.size === 0 || wanted.has(match[1]))
  ) {
    files.push(entry.name);
  }
}
files.sort();
const permissions = [
  "--allow-net=127.0.0.1,[::1],localhost,0.0.0.0",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
  "--allow-ffi",
];
let failed = 0;
for (const file of files) {
  console.log(`\n### ${file}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, new URL(file, dir).pathname],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    console.error(`### ${file} exited with code ${code}`);
    failed++;
  }
}
if (failed) Deno.exit(1);
