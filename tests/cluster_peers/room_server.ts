/**
 * A websocket server with rooms for the cluster tests and bench.
 *
 * Members connect to `/member?room=R` (they join R, then get "joined");
 * a control connection on `/control` sends JSON commands, answered with one
 * JSON message each: `count`, `members`, `send` (n messages `${from}:${i}`),
 * `connected`, `rss`. Run as a process (`deno run -A room_server.ts URL`),
 * it prints `{"port":…, "nodeId":…}` first; imported, `startRoomServer()`
 * runs it in this process.
 *
 * @module
 */

import { type Cluster, connectCluster } from "../../cluster/mod.ts";
import { serve, type WebSocketServer } from "../../websocket/mod.ts";

/** A control command. */
export type Command =
  | { op: "count"; room: string }
  | { op: "members"; room: string }
  | {
    op: "send";
    room: string;
    from: string;
    n: number;
    size?: number;
    except?: string[];
    /** Milliseconds to pause after each batch of 32 (a paced publisher). */
    pace?: number;
  }
  | { op: "connected" }
  | { op: "memory" }
  | { op: "conns" };

/** A running room server. */
export interface RoomServer extends AsyncDisposable {
  server: WebSocketServer;
  port: number;
  nodeId: string;
  run(command: Command): Promise<unknown>;
}

/**
 * Starts a room server on `cluster` in this process, on the websocket
 * `engine` (default: `$NETKIT_WS_ENGINE`, else native).
 */
export function startRoomServer(
  cluster: Cluster,
  { engine = Deno.env.get("NETKIT_WS_ENGINE") === "rfc6455" ? "rfc6455" : "native" }: {
    engine?: "native" | "rfc6455";
  } = {},
): RoomServer {
  const server = serve({
    hostname: "127.0.0.1",
    port: 0,
    cluster,
    heartbeat: false,
    engine,
  });
  const run = async (command: Command): Promise<unknown> => {
    switch (command.op) {
      case "count":
        return await server.to(command.room).count();
      case "members":
        return await server.to(command.room).members();
      case "connected":
        return cluster.connected;
      case "conns":
        return server.connections.map((c) => [c.path, c.readyState, c.bufferedAmount]);
      case "memory":
        // Run with --v8-flags=--expose-gc: count what is held, not garbage not yet collected.
        // Twice, with a pause: array buffers are released by a sweeper after the collection.
        for (let i = 0; i < 2; i++) {
          (globalThis as { gc?: () => void }).gc?.();
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return Deno.memoryUsage();
      case "send": {
        const target = command.except?.length
          ? server.to(command.room).except(...command.except)
          : server.to(command.room);
        const pad = command.size ? "x".repeat(command.size) : "";
        let errors = 0;
        const pending: Promise<void>[] = [];
        for (let i = 0; i < command.n; i++) {
          pending.push(target.send(`${command.from}:${i}${pad}`).catch(() => void errors++));
          if (pending.length >= (command.pace ? 32 : 64)) {
            await Promise.all(pending.splice(0));
            if (command.pace) await new Promise((resolve) => setTimeout(resolve, command.pace));
          }
        }
        await Promise.all(pending);
        return { errors };
      }
    }
  };
  const accepting = (async () => {
    for await (const conn of server) {
      const url = new URL(conn.path, "http://x");
      if (url.pathname === "/member") {
        (async () => {
          for (const room of url.searchParams.getAll("room")) await conn.join(room);
          await conn.send("joined");
          // Members' own messages are ignored; reading keeps the connection healthy.
          for await (const _ of conn.readable) { /* drain */ }
        })().catch(() => {});
      } else if (url.pathname === "/control") {
        (async () => {
          for await (const message of conn.readable) {
            const command = JSON.parse(message as string) as Command;
            const result = await run(command).catch((error) => ({ error: String(error) }));
            await conn.send(JSON.stringify({ result }));
          }
        })().catch(() => {});
      } else {
        await conn.close(1008, "unknown path");
      }
    }
  })();
  return {
    server,
    port: server.addr.port,
    nodeId: cluster.nodeId,
    run,
    async [Symbol.asyncDispose]() {
      await server.close();
      await accepting;
    },
  };
}

if (import.meta.main) {
  const url = Deno.args[0] === "local" ? undefined : Deno.args[0];
  const timeout = Number(Deno.env.get("NETKIT_PRESENCE_TIMEOUT") ?? 0);
  const cluster = await connectCluster(
    url,
    timeout ? { presence: { heartbeatInterval: timeout / 5, timeout } } : {},
  );
  const room = startRoomServer(cluster);
  // A clean exit on SIGTERM (so that --cpu-prof writes its profile).
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  console.log(JSON.stringify({ port: room.port, nodeId: cluster.nodeId }));
  await room.server.finished;
}
