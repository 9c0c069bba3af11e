/**
 * The engines the websocket tests run against.
 *
 * @module
 */

import type { WebSocketEngine } from "../../websocket/mod.ts";

/** Engines under test; the rfc6455 engine joins once it is merged. */
export const ENGINES: WebSocketEngine[] = ["native"];
