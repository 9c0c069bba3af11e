/**
 * The engines the websocket tests run against.
 *
 * @module
 */

import type { WebSocketEngine } from "../../websocket/mod.ts";

/** Engines under test: every test in the shared suite runs once per engine. */
export const ENGINES: WebSocketEngine[] = ["native", "rfc6455"];
