/**
 * TCP and TLS messaging: a server ({@linkcode listen}) and a client
 * ({@linkcode connect}) that exchange length-framed, typed messages — or raw
 * bytes — over web streams with real backpressure.
 *
 * The wire format is the Ptolemy accessors `socket` module's, byte for byte:
 * a payload shorter than 255 bytes is preceded by one byte holding its
 * length; any other by `0xFF` and its length as a 4-byte big-endian integer.
 * Payload types: `bytes`, `string`, `json`, `image` and the big-endian
 * numeric types (`byte`, `unsignedbyte`, `short`, `unsignedshort`, `int`,
 * `float`, `double`, `number`).
 *
 * Needs `--allow-net` for the addresses it listens on or dials.
 *
 * @example
 * ```ts
 * import { connect, listen } from "./mod.ts";
 *
 * await using server = listen({ hostname: "127.0.0.1", port: 0, sendType: "json" });
 * (async () => {
 *   for await (const connection of server) {
 *     for await (const message of connection.readable) {
 *       await connection.send({ echo: message });
 *     }
 *   }
 * })();
 *
 * await using client = await connect({
 *   hostname: "127.0.0.1",
 *   port: server.addr.port,
 *   sendType: "json",
 * });
 * await client.send({ hello: "world" });
 * for await (const reply of client.readable) {
 *   console.log(reply); // { echo: { hello: "world" } }
 *   break;
 * }
 * ```
 *
 * @module
 */

export * from "./connection.ts";
export * from "./listen.ts";
export * from "./connect.ts";
export * from "./options.ts";
export * from "./types.ts";
export * from "./errors.ts";
