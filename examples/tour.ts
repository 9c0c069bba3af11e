/**
 * The netkit tour: runs a live demo of every module that ships one.
 *
 * Each demo is a file `examples/<module>.ts` that exports `description`
 * (one line) and a default `async function` that runs the demo over real
 * loopback sockets and returns when done.
 *
 * Usage: `deno task example` (a menu on a terminal, every demo otherwise),
 * `deno task example framed` (one demo), `deno task example all`.
 *
 * @module
 */

interface Demo {
  name: string;
  description: string;
  run: () => Promise<void>;
}

async function loadDemos(): Promise<Demo[]> {
  const dir = new URL(".", import.meta.url);
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (
      entry.isFile && entry.name.endsWith(".ts") && entry.name !== "tour.ts" &&
      !entry.name.startsWith("_")
    ) names.push(entry.name.slice(0, -3));
  }
  names.sort();
  const demos: Demo[] = [];
  for (const name of names) {
    const mod = await import(new URL(`${name}.ts`, dir).href);
    demos.push({
      name,
      description: String(mod.description ?? ""),
      run: mod.default,
    });
  }
  return demos;
}

async function runDemo(demo: Demo): Promise<void> {
  console.log(`\n=== ${demo.name}: ${demo.description}`);
  const started = performance.now();
  await demo.run();
  console.log(
    `=== ${demo.name} done in ${(performance.now() - started).toFixed(0)} ms`,
  );
}

const demos = await loadDemos();
let chosen = Deno.args[0];
if (chosen === undefined && Deno.stdin.isTerminal()) {
  console.log("netkit tour — pick a demo:");
  demos.forEach((d, i) => console.log(`  ${i + 1}. ${d.name.padEnd(10)} ${d.description}`));
  console.log("  a. all of them");
  const answer = prompt("Your choice [a]:")?.trim() || "a";
  const index = Number(answer) - 1;
  chosen = answer === "a" ? "all" : demos[index]?.name ?? answer;
}
if (chosen === undefined || chosen === "all") {
  for (const demo of demos) await runDemo(demo);
} else {
  const demo = demos.find((d) => d.name === chosen);
  if (!demo) {
    console.error(
      `Unknown demo "${chosen}"; choose one of: ${demos.map((d) => d.name).join(", ")}`,
    );
    Deno.exit(2);
  }
  await runDemo(demo);
}
