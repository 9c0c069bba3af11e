/**
 * Encoding of `send()` values and decoding of received payloads, per payload
 * type. Multi-byte numbers are big-endian, as in the seed.
 *
 * @module
 */

import { FramedSyntaxError, FramedTypeError } from "./errors.ts";
import type { MessageType, NumericType } from "./types.ts";

/** Encodes one `send()` value into payload bytes; throws `FramedTypeError` (`ERR_INVALID_MESSAGE`). */
export type Encoder = (value: unknown) => Uint8Array;

/**
 * Decodes one whole message. `owned` says the bytes belong to this message
 * alone (so `bytes` can hand them out without a copy).
 */
export type Decoder = (payload: Uint8Array<ArrayBuffer>, owned: boolean) => unknown;

interface NumericCodec {
  size: number;
  read(view: DataView, offset: number): number;
  write(view: DataView, offset: number, value: number): void;
}

/** Java's double → int conversion: truncation toward zero, NaN → 0, saturation. */
function javaInt(value: number): number {
  if (value !== value) return 0;
  if (value >= 2147483647) return 2147483647;
  if (value <= -2147483648) return -2147483648;
  return Math.trunc(value);
}

/** Element codecs; `set*Int*` wrap modulo the width like Java's narrowing casts. */
export const NUMERIC_CODECS: Readonly<Record<NumericType, NumericCodec>> = {
  byte: {
    size: 1,
    read: (v, o) => v.getInt8(o),
    write: (v, o, x) => v.setInt8(o, javaInt(x)),
  },
  unsignedbyte: {
    size: 1,
    read: (v, o) => v.getUint8(o),
    write: (v, o, x) => v.setUint8(o, javaInt(x)),
  },
  short: {
    size: 2,
    read: (v, o) => v.getInt16(o),
    write: (v, o, x) => v.setInt16(o, javaInt(x)),
  },
  unsignedshort: {
    size: 2,
    read: (v, o) => v.getUint16(o),
    write: (v, o, x) => v.setUint16(o, javaInt(x)),
  },
  int: {
    size: 4,
    read: (v, o) => v.getInt32(o),
    write: (v, o, x) => v.setInt32(o, javaInt(x)),
  },
  float: {
    size: 4,
    read: (v, o) => v.getFloat32(o),
    write: (v, o, x) => v.setFloat32(o, x),
  },
  double: {
    size: 8,
    read: (v, o) => v.getFloat64(o),
    write: (v, o, x) => v.setFloat64(o, x),
  },
  number: {
    size: 8,
    read: (v, o) => v.getFloat64(o),
    write: (v, o, x) => v.setFloat64(o, x),
  },
};

/** Whether `type` is one of the numeric payload types. */
export function isNumericType(type: MessageType): type is NumericType {
  return Object.hasOwn(NUMERIC_CODECS, type);
}

const encoder = new TextEncoder();

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  return typeof value;
}

function toBytes(value: unknown, type: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new FramedTypeError(
    "ERR_INVALID_MESSAGE",
    `Expected a Uint8Array, ArrayBufferView or ArrayBuffer for sendType "${type}", got ${
      describe(value)
    }`,
  );
}

function numericEncoder(type: NumericType): Encoder {
  const { size, write } = NUMERIC_CODECS[type];
  return (value) => {
    if (typeof value === "number") {
      const out = new Uint8Array(size);
      write(new DataView(out.buffer), 0, value);
      return out;
    }
    if (
      value === null || typeof value !== "object" ||
      typeof (value as ArrayLike<number>).length !== "number"
    ) {
      throw new FramedTypeError(
        "ERR_INVALID_MESSAGE",
        `Expected a number or a list of numbers for sendType "${type}", got ${describe(value)}`,
      );
    }
    const list = value as ArrayLike<unknown>;
    const out = new Uint8Array(list.length * size);
    const view = new DataView(out.buffer);
    for (let i = 0; i < list.length; i++) {
      const element = list[i];
      if (typeof element !== "number") {
        throw new FramedTypeError(
          "ERR_INVALID_MESSAGE",
          `Expected a number at index ${i} for sendType "${type}", got ${describe(element)}`,
        );
      }
      write(view, i * size, element);
    }
    return out;
  };
}

const encoders = new Map<MessageType, Encoder>();
const decoders = new Map<MessageType, Decoder>();

/** The encoder for `type` (one per type, shared by every connection). */
export function encoderFor(type: MessageType): Encoder {
  let encode = encoders.get(type);
  if (encode === undefined) encoders.set(type, encode = makeEncoder(type));
  return encode;
}

/** The decoder of whole (length-framed) messages for `type` (one per type, shared). */
export function decoderFor(type: MessageType): Decoder {
  let decode = decoders.get(type);
  if (decode === undefined) decoders.set(type, decode = makeDecoder(type));
  return decode;
}

function makeEncoder(type: MessageType): Encoder {
  switch (type) {
    case "bytes":
    case "image":
      return (value) => toBytes(value, type);
    case "string":
      return (value) => {
        if (typeof value === "string") return encoder.encode(value);
        if (Array.isArray(value) && value.every((s) => typeof s === "string")) {
          return encoder.encode(value.join(""));
        }
        throw new FramedTypeError(
          "ERR_INVALID_MESSAGE",
          `Expected a string or a list of strings for sendType "string", got ${describe(value)}`,
        );
      };
    case "json":
      return (value) => {
        let text: string | undefined;
        try {
          text = JSON.stringify(value);
        } catch (cause) {
          throw new FramedTypeError(
            "ERR_INVALID_MESSAGE",
            `Value cannot be encoded as JSON: ${(cause as Error).message}`,
            { cause },
          );
        }
        if (text === undefined) {
          throw new FramedTypeError(
            "ERR_INVALID_MESSAGE",
            `Value of type "${typeof value}" has no JSON encoding`,
          );
        }
        return encoder.encode(text);
      };
    default:
      return numericEncoder(type);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function decodeText(payload: Uint8Array): string {
  try {
    return utf8.decode(payload);
  } catch (cause) {
    throw new FramedSyntaxError(
      "ERR_INVALID_PAYLOAD",
      `Payload of ${payload.length} bytes is not valid UTF-8`,
      {
        cause,
      },
    );
  }
}

/** Decodes `count` elements of a numeric type starting at `offset`. */
function decodeNumbers(type: NumericType, payload: Uint8Array): number | number[] {
  const { size, read } = NUMERIC_CODECS[type];
  if (payload.length % size !== 0) {
    throw new FramedSyntaxError(
      "ERR_INVALID_PAYLOAD",
      `Payload of ${payload.length} bytes is not a whole number of "${type}" elements (${size} bytes each)`,
    );
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = payload.length / size;
  if (count === 1) return read(view, 0);
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = read(view, i * size);
  return out;
}

function makeDecoder(type: MessageType): Decoder {
  switch (type) {
    case "bytes":
    case "image":
      return (payload, owned) => owned ? payload : payload.slice();
    case "string":
      return (payload) => decodeText(payload);
    case "json":
      return (payload) => {
        const text = decodeText(payload);
        try {
          return JSON.parse(text);
        } catch (cause) {
          throw new FramedSyntaxError(
            "ERR_INVALID_PAYLOAD",
            `Payload of ${payload.length} bytes is not valid JSON`,
            {
              cause,
            },
          );
        }
      };
    default:
      return (payload) => decodeNumbers(type, payload);
  }
}
