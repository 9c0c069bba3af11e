/**
 * Payload types: the names a connection's `sendType` / `receiveType` take and
 * the JavaScript values each maps to.
 *
 * @module
 */

/**
 * Numeric payload types. Multi-byte values are big-endian. A message holds
 * one or more consecutive elements.
 *
 * | type | bytes | range |
 * |---|---|---|
 * | `byte` | 1 | −128…127 |
 * | `unsignedbyte` | 1 | 0…255 |
 * | `short` | 2 | −32768…32767 |
 * | `unsignedshort` | 2 | 0…65535 |
 * | `int` | 4 | −2³¹…2³¹−1 |
 * | `float` | 4 | IEEE-754 single |
 * | `double`, `number` | 8 | IEEE-754 double |
 *
 * @example
 * ```ts
 * import type { NumericType } from "./mod.ts";
 *
 * const type: NumericType = "unsignedshort";
 * ```
 */
export type NumericType =
  | "byte"
  | "unsignedbyte"
  | "short"
  | "unsignedshort"
  | "int"
  | "float"
  | "double"
  | "number";

/**
 * Every payload type a connection can send or receive.
 *
 * - `bytes`: `Uint8Array` passed through untouched.
 * - `image`: the encoded bytes of an image file (PNG, JPEG, …) as a `Uint8Array`.
 * - `string`: UTF-8 text.
 * - `json`: any JSON value, as UTF-8 text of `JSON.stringify`.
 * - a {@linkcode NumericType}.
 *
 * @example
 * ```ts
 * import type { MessageType } from "./mod.ts";
 *
 * const types: MessageType[] = ["bytes", "string", "json", "int"];
 * ```
 */
export type MessageType = "bytes" | "image" | "string" | "json" | NumericType;

/**
 * The values `send()` accepts for each payload type.
 *
 * Numeric types take a number or a list of numbers (any `ArrayLike<number>`,
 * typed arrays included); a list goes out as one message. Numbers are
 * converted like Java's narrowing casts (truncated toward zero, `NaN` → 0,
 * saturated to the `int` range, then wrapped to the element width).
 * `string` also takes a list of strings, sent concatenated as one message.
 *
 * @example
 * ```ts
 * import type { SendValueOf } from "./mod.ts";
 *
 * const ints: SendValueOf<"int"> = [1, 2, 3];
 * const text: SendValueOf<"string"> = "hello";
 * ```
 */
export interface SendValueMap {
  /** Bytes passed through as they are. */
  bytes: Uint8Array | ArrayBufferView | ArrayBuffer;
  /** The encoded bytes of an image file. */
  image: Uint8Array | ArrayBufferView | ArrayBuffer;
  /** Text, or a list of strings sent concatenated. */
  string: string | readonly string[];
  /** Any value `JSON.stringify` can encode. */
  json: unknown;
  /** One signed byte or a list of them. */
  byte: number | ArrayLike<number>;
  /** One unsigned byte or a list of them. */
  unsignedbyte: number | ArrayLike<number>;
  /** One signed 16-bit integer or a list of them. */
  short: number | ArrayLike<number>;
  /** One unsigned 16-bit integer or a list of them. */
  unsignedshort: number | ArrayLike<number>;
  /** One signed 32-bit integer or a list of them. */
  int: number | ArrayLike<number>;
  /** One 32-bit float or a list of them. */
  float: number | ArrayLike<number>;
  /** One 64-bit float or a list of them. */
  double: number | ArrayLike<number>;
  /** Same as `double`. */
  number: number | ArrayLike<number>;
}

/**
 * The values a connection's `readable` yields for each payload type.
 *
 * Numeric types: with length framing, a message holding exactly one element
 * arrives as a number and any other count as an array (like the seed); with
 * `framing: "raw"` each element arrives on its own as a number.
 *
 * @example
 * ```ts
 * import type { ReceiveValueOf } from "./mod.ts";
 *
 * function total(value: ReceiveValueOf<"int">): number {
 *   return typeof value === "number" ? value : value.reduce((a, b) => a + b, 0);
 * }
 * ```
 */
export interface ReceiveValueMap {
  /** The message's bytes. */
  bytes: Uint8Array<ArrayBuffer>;
  /** The message's bytes (an encoded image file). */
  image: Uint8Array<ArrayBuffer>;
  /** The message decoded as UTF-8. */
  string: string;
  /** The message parsed as JSON. */
  json: unknown;
  /** One element, or an array for zero or several. */
  byte: number | number[];
  /** One element, or an array for zero or several. */
  unsignedbyte: number | number[];
  /** One element, or an array for zero or several. */
  short: number | number[];
  /** One element, or an array for zero or several. */
  unsignedshort: number | number[];
  /** One element, or an array for zero or several. */
  int: number | number[];
  /** One element, or an array for zero or several. */
  float: number | number[];
  /** One element, or an array for zero or several. */
  double: number | number[];
  /** One element, or an array for zero or several. */
  number: number | number[];
}

/**
 * The value type `send()` takes for the payload type `T`.
 *
 * @example
 * ```ts
 * import type { SendValueOf } from "./mod.ts";
 *
 * const value: SendValueOf<"json"> = { hello: "world" };
 * ```
 */
export type SendValueOf<T extends MessageType> = SendValueMap[T];

/**
 * The value type `readable` yields for the payload type `T`.
 *
 * @example
 * ```ts
 * import type { ReceiveValueOf } from "./mod.ts";
 *
 * const value: ReceiveValueOf<"string"> = "hello";
 * ```
 */
export type ReceiveValueOf<T extends MessageType> = ReceiveValueMap[T];

/**
 * The payload types this module can send, in the order the seed lists them.
 *
 * @example
 * ```ts
 * import { supportedSendTypes } from "./mod.ts";
 *
 * console.log(supportedSendTypes().includes("json")); // true
 * ```
 */
export function supportedSendTypes(): MessageType[] {
  return [...MESSAGE_TYPES];
}

/**
 * The payload types this module can receive.
 *
 * @example
 * ```ts
 * import { supportedReceiveTypes } from "./mod.ts";
 *
 * console.log(supportedReceiveTypes().includes("int")); // true
 * ```
 */
export function supportedReceiveTypes(): MessageType[] {
  return [...MESSAGE_TYPES];
}

const MESSAGE_TYPES: readonly MessageType[] = [
  "byte",
  "bytes",
  "double",
  "float",
  "image",
  "int",
  "json",
  "number",
  "short",
  "string",
  "unsignedbyte",
  "unsignedshort",
];
