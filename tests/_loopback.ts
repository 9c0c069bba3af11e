/**
 * Small helpers shared by the tests: loopback addresses, deadlines and
 * temporary directories. Private to the tests (not published).
 *
 * @module
 */

/** The IPv4 loopback address every test binds to (with port 0). */
export const LOOPBACK4 = "127.0.0.1";
/** The IPv6 loopback address. */
export const LOOPBACK6 = "::1";

/** Whether this machine can bind an IPv6 loopback socket. */
export function hasIPv6(): boolean {
  try {
    Deno.listen({ hostname: LOOPBACK6, port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Rejects with a `TimeoutError` naming `what` when `promise` takes longer
 * than `ms`, so a broken test fails with a reason instead of hanging.
 */
export async function deadline<T>(
  promise: Promise<T>,
  ms: number,
  what = "operation",
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new DOMException(
            `Timed out after ${ms} ms waiting for ${what}`,
            "TimeoutError",
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP listener on 127.0.0.1 port 0 with its port read back. */
export function listenLoopback():
  & { listener: Deno.TcpListener; port: number }
  & Disposable {
  const listener = Deno.listen({ hostname: LOOPBACK4, port: 0 });
  return {
    listener,
    port: listener.addr.port,
    [Symbol.dispose]() {
      try {
        listener.close();
      } catch { /* already closed */ }
    },
  };
}

/** A temporary directory removed (recursively) on dispose. */
export function tempDir(
  prefix = "netkit-test-",
): { path: string } & AsyncDisposable {
  const path = Deno.makeTempDirSync({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs a command to completion and returns its stdout; throws with stderr on failure. */
export async function run(
  cmd: string,
  args: string[],
  options: Deno.CommandOptions = {},
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    ...options,
    args,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const decoder = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `"${cmd} ${args.join(" ")}" failed (${out.code}): ${decoder.decode(out.stderr)}`,
    );
  }
  return decoder.decode(out.stdout);
}
