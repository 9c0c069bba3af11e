/**
 * Checks that application values survive the trip as JSON: what
 * `JSON.stringify` would silently drop or change (functions, `Map`, `Set`,
 * `NaN`, …) is refused with a {@linkcode MeshTypeError} instead.
 *
 * @module
 */

import { MeshTypeError } from "./errors.ts";

/** Deepest nesting accepted in a value. */
export const MAX_JSON_DEPTH = 512;

function invalid(what: string, problem: string): MeshTypeError {
  return new MeshTypeError("ERR_INVALID_CONTENT", `${what} ${problem}`);
}

/** Built-ins that JSON turns into `{}` (or worse) without a word. */
function lossyBuiltin(value: object): string | undefined {
  if (value instanceof Map) return "a Map";
  if (value instanceof Set) return "a Set";
  if (value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
    return "a weak collection";
  }
  if (value instanceof Promise) return "a Promise";
  if (value instanceof RegExp) return "a RegExp";
  if (value instanceof Error) return "an Error";
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return "binary data inside a JSON value";
  }
  return undefined;
}

/** Where the walk is: the objects above the value and the keys leading to it. */
interface Walk {
  what: string;
  ancestors: object[];
  keys: (string | number)[];
}

function fail(walk: Walk, problem: string): MeshTypeError {
  // The path is only built for the error: the walk itself allocates no strings.
  let path = walk.keys.length === 0 ? "the top level" : "";
  for (const key of walk.keys) path += typeof key === "number" ? `[${key}]` : `.${key}`;
  return invalid(walk.what, `${problem} at ${path}`);
}

function check(value: unknown, walk: Walk): void {
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw fail(walk, `holds ${value}`);
      return;
    case "undefined":
      throw fail(walk, "is undefined");
    case "function":
    case "symbol":
    case "bigint":
      throw fail(walk, `holds a ${typeof value}`);
  }
  if (value === null) return;
  const object = value as Record<string, unknown>;
  const proto = Object.getPrototypeOf(object);
  const isArray = Array.isArray(object);
  if (!isArray) {
    // Date and friends say how they travel.
    if (typeof object.toJSON === "function") return;
    // Plain objects are the common case: skip the built-in checks for them.
    if (proto !== Object.prototype && proto !== null) {
      const builtin = lossyBuiltin(object);
      if (builtin) throw fail(walk, `holds ${builtin}`);
    }
  }
  const { ancestors, keys } = walk;
  if (ancestors.includes(object)) throw fail(walk, "is circular");
  if (ancestors.length >= MAX_JSON_DEPTH) {
    throw fail(walk, `is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  ancestors.push(object);
  if (isArray) {
    const array = object as unknown as unknown[];
    for (let i = 0; i < array.length; i++) {
      keys.push(i);
      check(array[i], walk);
      keys.pop();
    }
  } else {
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue;
      const item = object[key];
      // Like JSON: a property that is undefined is simply absent.
      if (item === undefined) continue;
      keys.push(key);
      check(item, walk);
      keys.pop();
    }
  }
  ancestors.pop();
}

/**
 * Throws {@linkcode MeshTypeError} (`ERR_INVALID_CONTENT`) unless `value`
 * is JSON that round-trips: null, booleans, finite numbers, strings, arrays
 * and objects of those (objects with a `toJSON` method are trusted).
 */
export function checkJson(value: unknown, what: string): void {
  check(value, { what, ancestors: [], keys: [] });
}

/** Throws {@linkcode MeshTypeError} (`ERR_INVALID_ARGUMENT`) unless `value` is a string. */
export function checkString(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string") {
    throw new MeshTypeError(
      "ERR_INVALID_ARGUMENT",
      `${what} must be a string, got ${typeof value}`,
    );
  }
}
